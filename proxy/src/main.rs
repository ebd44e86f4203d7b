//! The `dhow-proxy` binary: `run` serves traffic, the control socket and (optionally) metrics;
//! `list`, `deploy`, `remove`, `pause`, `stop` and `resume` are thin clients of the control
//! socket.

mod ctl_client;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ctl_client::call;
use dhow_proxy::limits::{parse_duration, Limits};
use dhow_proxy::proxy::Proxy;
use dhow_proxy::{acme, control, server, state};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        Cmd::Run(args) => run(args, &cli.control).await,
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

/// The routes saved in the state file (problems logged), and the shared state serving them.
fn restore(args: &RunArgs) -> (state::State, Arc<Proxy>) {
    let (saved, problem) = state::load(&args.state);
    if let Some(p) = problem {
        tracing::error!("{p}");
    }
    let (table, problems) = saved.table();
    for p in problems {
        tracing::error!("{p}");
    }
    let limits = Limits {
        header_timeout: args.header_timeout,
        max_header_bytes: args.max_header_bytes,
        max_body_bytes: args.max_body_bytes,
        response_timeout: args.response_timeout,
        pause_timeout: args.pause_timeout,
        max_connections: dhow_proxy::limits::max_connections(args.max_connections),
    };
    let proxy = Proxy::with_limits(table, !args.quiet, limits, args.rules.rules());
    (saved, proxy)
}

/// The HTTPS address and TLS config when `--https` is given; ACME set up and its stored
/// certificates loaded for it.
fn https_setup(
    args: &RunArgs,
    proxy: &Arc<Proxy>,
) -> anyhow::Result<Option<(std::net::SocketAddr, Arc<rustls::ServerConfig>)>> {
    let Some(a) = &args.https else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = a
        .parse()
        .with_context(|| format!("--https {a}: expected an address and port, like 0.0.0.0:443"))?;
    let config = dhow_proxy::tls::sni::server_config(proxy.clone())
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    let a = &args.acme;
    let dir = args.state.parent().unwrap_or(Path::new(".")).join("acme");
    let _ = proxy.acme.settings.set(acme::Settings {
        directory: a.acme_directory.clone(),
        email: a.acme_email.clone(),
        ca_root: a.acme_ca_root.clone(),
        challenge: a.acme_challenge,
        renew_before: a.acme_renew_before,
        check_interval: a.acme_check_interval,
        dir,
    });
    for p in proxy.acme.load_stored(&proxy.table.load().acme_hosts()) {
        tracing::error!("{p}");
    }
    Ok(Some((addr, config)))
}

async fn run(args: RunArgs, control_path: &Path) -> anyhow::Result<()> {
    dhow_proxy::logging::init(args.log_format, args.debug);
    let (saved, proxy) = restore(&args);
    let ctl = control::Control::new(proxy.clone(), args.state.clone());
    ctl.check_restored();
    let http: std::net::SocketAddr = args.http.parse().with_context(|| {
        format!(
            "--http {}: expected an address and port, like 0.0.0.0:80",
            args.http
        )
    })?;
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let https = https_setup(&args, &proxy)?;
    let ports = server::Ports { http, https };
    let server::Workers {
        http: bound,
        https: https_bound,
        threads,
    } = server::spawn_workers(
        ports,
        workers,
        proxy.clone(),
        rx.clone(),
        args.shutdown_timeout,
    )
    .with_context(|| {
        format!(
            "cannot listen on {}{}",
            args.http,
            args.https
                .as_deref()
                .map(|h| format!(" / {h}"))
                .unwrap_or_default()
        )
    })?;
    if let Some(b) = https_bound {
        let _ = proxy
            .https_port
            .set(args.https_public_port.unwrap_or(b.port()));
    }
    let metrics = match &args.metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?,
        ),
        None => None,
    };
    if let Some(dir) = control_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(control_path);
    let http_addr = bound.to_string();
    let metrics_addr = match &metrics {
        Some(m) => Some(m.local_addr()?.to_string()),
        None => None,
    };
    let unix = tokio::net::UnixListener::bind(control_path)
        .with_context(|| format!("cannot bind the control socket {}", control_path.display()))?;
    restrict_socket(control_path, args.control_gid)?;
    let https_addr = https_bound.map(|b| b.to_string());
    tracing::info!(
        http = %http_addr,
        https = https_addr.as_deref(),
        metrics = metrics_addr.as_deref(),
        services = saved.services.len(),
        "dhow-proxy listening on {http_addr}, control socket {}",
        control_path.display()
    );
    tokio::spawn(control::serve(unix, ctl));
    let routes = proxy.clone();
    tokio::spawn(acme::run(proxy.acme.clone(), move || {
        routes.table.load().acme_hosts()
    }));
    if let Some(m) = metrics {
        tokio::spawn(server::serve_metrics(m, proxy.clone(), rx.clone()));
    }
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = tx.send(true);
    });
    tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await?;
    Ok(())
}

/// Mode 0600, or 0660 with group `gid`.
fn restrict_socket(path: &Path, gid: Option<u32>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(gid) = gid {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .context("control socket path")?;
        // SAFETY: a valid NUL-terminated path; uid -1 leaves the owner unchanged.
        let rc = unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot give the control socket to group {gid}"));
        }
    }
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(())
}
