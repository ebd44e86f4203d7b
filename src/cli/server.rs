//! `dhow server exec CMD`: run a shell command on the selected hosts in parallel, output
//! prefixed by host; non-zero exit if the command fails (or cannot run) on any host.

use super::{hosts, Global};
use crate::error::{fail, kind_of, Kind};
use crate::host::ssh::Session;
use crate::output::Output;
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Clone, Subcommand)]
pub enum ServerCommand {
    /// Run a shell command on every selected host (in parallel).
    Exec {
        /// The command: one argument is a shell command line run as written (`dhow server
        /// exec "docker ps | wc -l"`); several arguments are one command's words, passed
        /// as given (`dhow server exec ls -la /var/lib`).
        #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
        cmd: Vec<String>,
    },
}

pub async fn run(global: &Global, cmd: ServerCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::Exec { cmd } => exec(global, &command_line(&cmd), out).await,
    }
}

/// The remote shell line: one argument as written, several quoted word by word (so what the
/// local shell split stays split the same way).
fn command_line(cmd: &[String]) -> String {
    match cmd {
        [line] => line.clone(),
        words => words
            .iter()
            .map(|w| crate::host::shell::quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What happened on one host.
enum Outcome {
    Exited(u32),
    Failed(anyhow::Error),
}

async fn exec(global: &Global, cmd: &str, out: &Output) -> anyhow::Result<()> {
    let hosts = hosts::load(global)?;
    let tasks = hosts.targets.iter().map(|target| {
        let (target, ssh, out) = (target.clone(), hosts.ssh.clone(), *out);
        let cmd = cmd.to_string();
        async move {
            let host = target.host.clone();
            out.debug(format!("{host}: running {cmd}"));
            let result = async {
                let session = Session::connect(&target, &ssh).await?;
                // The user's own command, streamed as it runs: no deadline, like an
                // interactive session (the user ends it with Ctrl-C).
                let status = session
                    .exec_streaming(&cmd, None, |stream, line| {
                        out.host_line(&host, stream.as_str(), line)
                    })
                    .await;
                session.close().await;
                status
            }
            .await;
            let outcome = match result {
                Ok(code) => Outcome::Exited(code),
                Err(e) => Outcome::Failed(e),
            };
            (target.host, outcome)
        }
    });
    let results = futures::future::join_all(tasks).await;

    // One summary line per failed host, in the final error.
    let mut failed = Vec::new();
    let mut kind = None;
    for (host, outcome) in &results {
        match outcome {
            Outcome::Exited(code) => {
                out.event("exec_result", json!({ "host": host, "exit_status": code }));
                if *code != 0 {
                    failed.push(format!("{host}: exited with status {code}"));
                    kind = Some(Kind::Remote);
                }
            }
            Outcome::Failed(e) => {
                out.event(
                    "exec_result",
                    json!({ "host": host, "error": format!("{e:#}") }),
                );
                failed.push(format!("{e:#}"));
                kind.get_or_insert(kind_of(e));
            }
        }
    }
    match kind {
        None => Ok(()),
        Some(kind) => Err(fail(
            kind,
            format!(
                "the command failed on {} of {} hosts:\n  {}",
                failed.len(),
                results.len(),
                failed.join("\n  ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_argument_is_a_shell_line_several_are_words() {
        assert_eq!(
            command_line(&["docker ps | wc -l".into()]),
            "docker ps | wc -l"
        );
        let line = command_line(&["echo".into(), "a  b".into(), "it's".into()]);
        assert_eq!(line, r"echo 'a  b' 'it'\''s'");
    }
}
