//! dhow: zero-downtime deploys of Docker apps to plain Linux servers over SSH.
//!
//! The binary is thin: parse the command line (cli/), run the command, and turn any
//! error into a message and a distinct exit code (error.rs).

mod accessory;
mod cli;
mod config;
mod deploy;
mod docker;
mod error;
mod hooks;
mod host;
mod image;
mod kube;
mod logging;
mod output;
mod progress;
mod proxy;
mod secrets_managers;
mod setup;

use std::process::ExitCode;

fn main() -> ExitCode {
    let (cli, out) = match cli::parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::Kind::Internal.code());
        }
    };
    match runtime.block_on(cli::run(cli, out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = error::exit_code(&err);
            out.error(&err);
            ExitCode::from(code)
        }
    }
}
