//! The `dhow-proxy` binary: `run` serves traffic, the control socket and (optionally) metrics;
//! `list`, `deploy`, `remove`, `pause`, `stop` and `resume` are thin clients of the control
//! socket.

mod ctl_client;
mod serve_cmd;

use clap::{Parser, Subcommand};
use ctl_client::call;
use dhow_proxy::acme;
use dhow_proxy::limits::parse_duration;
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

#[derive(clap::Args)]
struct RunArgs {
    /// Where to accept HTTP.
    #[arg(long, default_value = "0.0.0.0:80")]
    http: String,
    /// Where to accept HTTPS (certificates come with each service's deploy); off unless given,
    /// e.g. 0.0.0.0:443. HTTP/2 is offered over it (ALPN).
    #[arg(long)]
    https: Option<String>,
    /// The HTTPS port clients see, for redirects (default: the port of --https).
    #[arg(long)]
    https_public_port: Option<u16>,
    /// Where to serve /metrics (Prometheus text format); off unless given, e.g. 127.0.0.1:9180.
    #[arg(long)]
    metrics: Option<String>,
    /// The state file (routes survive restarts).
    #[arg(long, default_value = "/var/lib/dhow-proxy/state.json")]
    state: PathBuf,
    /// Do not log one JSON line per request.
    #[arg(long)]
    quiet: bool,
    /// The operational log on stderr: `json` (one object per line) or `text`. `RUST_LOG`
    /// overrides its levels.
    #[arg(long, value_enum, default_value = "json")]
    log_format: dhow_proxy::logging::LogFormat,
    /// Debug-level operational log (when RUST_LOG is not set).
    #[arg(long)]
    debug: bool,
    /// Time a client has to send a request's headers.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Largest request head in bytes (larger: 431; at least 8192).
    #[arg(long, default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Largest request body in bytes (larger: 413; 0 = no limit).
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Time a target has to answer with a response head (longer: 504).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    response_timeout: Duration,
    /// How long a paused service holds a request before answering 503.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pause_timeout: Duration,
    /// How long SIGTERM waits for in-flight requests before exiting.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// After SIGTERM, how long an idle keep-alive connection waits for a last request (answered
    /// with `Connection: close`) before it is closed.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    shutdown_linger: Duration,
    /// Take the listening sockets from the port holder at this unix socket (`dhow-proxy
    /// hold`) instead of binding --http, --https and --metrics: connections then wait in the
    /// holder's sockets while this process restarts or is replaced.
    #[arg(long)]
    listen_from: Option<PathBuf>,
    /// With --listen-from: how long restored routes get to pass a first health check before
    /// this process starts accepting.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ready_wait: Duration,
    /// The usual control socket: while another proxy answers there, stand by on --control
    /// until `POST /v1/promote` (a zero-downtime replacement), then move to it; when none
    /// answers, use it at once.
    #[arg(long)]
    takeover: Option<PathBuf>,
    #[command(flatten)]
    rules: dhow_proxy::policy::flags::RulesFlags,
    /// Group allowed to use the control socket (mode 0660), e.g. the host's `docker` group so
    /// a non-root deploy user can reach it; without it the socket is root's alone (0600).
    #[arg(long)]
    control_gid: Option<u32>,
    /// Data-plane threads (default: one per CPU core).
    #[arg(long)]
    workers: Option<usize>,
    /// Client connections open at once; more are closed as they are accepted (default:
    /// 10000, lower when the open-file limit is lower).
    #[arg(long)]
    max_connections: Option<usize>,
    #[command(flatten)]
    acme: AcmeArgs,
}

/// Automatic certificates for services deployed with --acme (needs --https).
#[derive(clap::Args)]
struct AcmeArgs {
    /// The ACME directory to get certificates from.
    #[arg(long, default_value = acme::LETS_ENCRYPT)]
    acme_directory: String,
    /// Contact e-mail for the ACME account (expiry notices).
    #[arg(long)]
    acme_email: Option<String>,
    /// PEM root certificates to trust for the ACME directory instead of the built-in ones
    /// (a private or test CA).
    #[arg(long)]
    acme_ca_root: Option<PathBuf>,
    /// How the ACME server checks that a host name is ours: http-01 (port 80) or
    /// tls-alpn-01 (the HTTPS port).
    #[arg(long, default_value = "http-01", value_parser = acme::Challenge::parse)]
    acme_challenge: acme::Challenge,
    /// Renew a certificate when it has less than this left.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    acme_renew_before: Duration,
    /// How often certificates are checked for renewal.
    #[arg(long, default_value = "12h", value_parser = parse_duration)]
    acme_check_interval: Duration,
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
        /// The new target, HOST:PORT.
        #[arg(long)]
        target: String,
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
}

// The control plane (socket, health checks, metrics, signals) runs on this runtime; the data
// plane runs on its own threads (see server::spawn_workers).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
        Cmd::Stop { service, message } => {
            let body = serde_json::json!({ "message": message });
            call(&cli.control, "POST", &svc(&service, "stop"), Some(body)).await
        }
        Cmd::Deploy {
            service,
            target,
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
                "target": target, "hosts": hosts, "path_prefix": path_prefix,
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
            limits.add_to(&mut body);
            call(&cli.control, "POST", &svc(&service, "deploy"), Some(body)).await
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
