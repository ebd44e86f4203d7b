//! The `dhow-proxy` binary: `run` serves traffic, the control socket and (optionally) metrics;
//! `list`, `deploy`, `remove`, `pause`, `stop` and `resume` are thin clients of the control
//! socket; `cron` is a cron role's scheduler (cron/mod.rs).

mod ctl_client;
mod run_args;
mod serve_cmd;

use clap::{Parser, Subcommand};
use ctl_client::call;
use dhow_proxy::limits::parse_duration;
use run_args::RunArgs;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "dhow-proxy",
    version,
    about = "dhow's reverse proxy: health-gated, zero-downtime traffic switching"
)]
struct Cli {
    /// The control socket.
    #[arg(long, global = true, default_value = "/run/dhow-proxy/control.sock")]
    control: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve traffic, the control socket and metrics.
    Run(RunArgs),
    /// Hold the listening sockets and hand them to proxy processes (`run --listen-from`).
    Hold {
        /// Where proxy processes ask for the sockets.
        #[arg(long, default_value = dhow_proxy_api::CONTAINER_PORTS_SOCKET)]
        socket: PathBuf,
        /// A socket to hold, NAME=ADDRESS with NAME http, https or metrics (repeatable).
        #[arg(long = "listen", required = true, value_parser = dhow_proxy::ports_holder::parse_listen)]
        listen: Vec<(String, std::net::SocketAddr)>,
        /// SO_REUSEPORT sockets per address (default: one per CPU core, as the proxy has
        /// data-plane threads).
        #[arg(long)]
        per_port: Option<usize>,
    },
    /// List services, their targets and modes.
    List,
    /// Health-check TARGET and switch SERVICE to it; drains the old target before answering.
    Deploy {
        service: String,
        /// The new target, HOST:PORT; given several times, the service balances over all of
        /// them (each health-checked before any takes requests).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// Host names routed to the service (exact or *.example.com); none = every host.
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long)]
        path_prefix: Option<String>,
        /// Remove the path prefix before forwarding.
        #[arg(long)]
        strip_prefix: bool,
        #[arg(long, default_value = "/up")]
        health_path: String,
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        health_interval: Duration,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        health_timeout: Duration,
        /// How long the new target has to become healthy.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        deploy_timeout: Duration,
        /// How long in-flight requests to the old target may take to finish.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        drain_timeout: Duration,
        /// PEM certificate chain for the service's hosts (served on the HTTPS port by SNI).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<String>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<String>,
        /// With a certificate, keep serving plain HTTP instead of redirecting it to HTTPS.
        #[arg(long)]
        no_tls_redirect: bool,
        /// Obtain and renew certificates for the --host names automatically (ACME; the proxy
        /// must run with --https). Plain HTTP is redirected once a host has its certificate.
        #[arg(long, conflicts_with = "tls_cert")]
        acme: bool,
        #[command(flatten)]
        limits: ctl_client::ServiceLimitArgs,
    },
    /// Stop routing SERVICE.
    Remove { service: String },
    /// Hold SERVICE's new requests until `resume` (up to the proxy's pause timeout).
    Pause { service: String },
    /// Answer SERVICE's requests with a 503 maintenance page; its health path keeps answering 200.
    Stop {
        service: String,
        /// The message on the maintenance page.
        #[arg(long)]
        message: Option<String>,
    },
    /// Make a paused or stopped SERVICE live again.
    Resume { service: String },
    /// A cron role's scheduler, inside the role's container (dhow starts it there).
    #[command(subcommand)]
    Cron(dhow_proxy::cron::CronCmd),
}

// The control plane (socket, health checks, metrics, signals) runs on this runtime; the data
// plane runs on its own threads (see server::spawn_workers).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Cmd::Cron(cmd) = cli.cmd {
        // Plain threads and blocking calls (cron/mod.rs): nothing else runs on this runtime.
        let code = dhow_proxy::cron::main(cmd);
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let svc = |name: &str, action: &str| format!("/v1/services/{name}/{action}");
    let result = match cli.cmd {
        Cmd::Run(args) => serve_cmd::run(args, &cli.control).await,
        Cmd::Hold {
            socket,
            listen,
            per_port,
        } => {
            dhow_proxy::logging::init(dhow_proxy::logging::LogFormat::Json, false);
            let per_port = per_port.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            dhow_proxy::ports_holder::hold(&socket, &listen, per_port).await
        }
        Cmd::List => call(&cli.control, "GET", "/v1/services", None).await,
        Cmd::Remove { service } => {
            call(
                &cli.control,
                "DELETE",
                &format!("/v1/services/{service}"),
                None,
            )
            .await
        }
        Cmd::Pause { service } => call(&cli.control, "POST", &svc(&service, "pause"), None).await,
        Cmd::Resume { service } => call(&cli.control, "POST", &svc(&service, "resume"), None).await,
        Cmd::Cron(_) => Ok(()),
        Cmd::Stop { service, message } => {
            let body = serde_json::json!({ "message": message });
            call(&cli.control, "POST", &svc(&service, "stop"), Some(body)).await
        }
        Cmd::Deploy {
            service,
            targets,
            hosts,
            path_prefix,
            strip_prefix,
            health_path,
            health_interval,
            health_timeout,
            deploy_timeout,
            drain_timeout,
            tls_cert,
            tls_key,
            no_tls_redirect,
            acme,
            limits,
        } => {
            let mut body = serde_json::json!({
                "target": targets[0], "hosts": hosts, "path_prefix": path_prefix,
                "strip_prefix": strip_prefix,
                "health": {
                    "path": health_path,
                    "interval_ms": health_interval.as_millis() as u64,
                    "timeout_ms": health_timeout.as_millis() as u64,
                },
                "deploy_timeout_ms": deploy_timeout.as_millis() as u64,
                "drain_timeout_ms": drain_timeout.as_millis() as u64,
                "tls_cert": tls_cert, "tls_key": tls_key, "tls_redirect": !no_tls_redirect,
                "acme": acme,
            });
            if targets.len() > 1 {
                body["targets"] = serde_json::json!(targets);
            }
            match limits.add_to(&mut body) {
                Ok(()) => call(&cli.control, "POST", &svc(&service, "deploy"), Some(body)).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhow-proxy: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
