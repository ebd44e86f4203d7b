//! The flags of `dhow-proxy run` (the data plane, the control socket, ACME).

use dhow_proxy::acme;
use dhow_proxy::limits::parse_duration;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Where to accept HTTP.
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http: String,
    /// Where to accept HTTPS (certificates come with each service's deploy); off unless given,
    /// e.g. 0.0.0.0:443. HTTP/2 is offered over it (ALPN).
    #[arg(long)]
    pub https: Option<String>,
    /// The HTTPS port clients see, for redirects (default: the port of --https).
    #[arg(long)]
    pub https_public_port: Option<u16>,
    /// Where to serve /metrics (Prometheus text format); off unless given, e.g. 127.0.0.1:9180.
    #[arg(long)]
    pub metrics: Option<String>,
    /// The state file (routes survive restarts).
    #[arg(long, default_value = "/var/lib/dhow-proxy/state.json")]
    pub state: PathBuf,
    /// Do not log one JSON line per request.
    #[arg(long)]
    pub quiet: bool,
    /// The operational log on stderr: `json` (one object per line) or `text`. `RUST_LOG`
    /// overrides its levels.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: dhow_proxy::logging::LogFormat,
    /// Debug-level operational log (when RUST_LOG is not set).
    #[arg(long)]
    pub debug: bool,
    /// Time a client has to send a request's headers.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Largest request head in bytes (larger: 431; at least 8192).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Largest request body in bytes (larger: 413; 0 = no limit).
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Time a target has to answer with a response head (longer: 504).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub response_timeout: Duration,
    /// How long a paused service holds a request before answering 503.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub pause_timeout: Duration,
    /// How long SIGTERM waits for in-flight requests before exiting.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// After SIGTERM, how long an idle keep-alive connection waits for a last request (answered
    /// with `Connection: close`) before it is closed.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub shutdown_linger: Duration,
    /// Take the listening sockets from the port holder at this unix socket (`dhow-proxy
    /// hold`) instead of binding --http, --https and --metrics: connections then wait in the
    /// holder's sockets while this process restarts or is replaced.
    #[arg(long)]
    pub listen_from: Option<PathBuf>,
    /// The usual control socket: while another proxy answers there, stand by on --control
    /// until `POST /v1/promote` (a zero-downtime replacement), then move to it; when none
    /// answers, use it at once.
    #[arg(long)]
    pub takeover: Option<PathBuf>,
    #[command(flatten)]
    pub rules: dhow_proxy::policy::flags::RulesFlags,
    /// Group allowed to use the control socket (mode 0660), e.g. the host's `docker` group so
    /// a non-root deploy user can reach it; without it the socket is root's alone (0600).
    #[arg(long)]
    pub control_gid: Option<u32>,
    /// Data-plane threads (default: one per CPU core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Client connections open at once; more are closed as they are accepted (default:
    /// 10000, lower when the open-file limit is lower).
    #[arg(long)]
    pub max_connections: Option<usize>,
    #[command(flatten)]
    pub acme: AcmeArgs,
}

/// Automatic certificates for services deployed with --acme (needs --https).
#[derive(clap::Args)]
pub struct AcmeArgs {
    /// The ACME directory to get certificates from.
    #[arg(long, default_value = acme::LETS_ENCRYPT)]
    pub acme_directory: String,
    /// Contact e-mail for the ACME account (expiry notices).
    #[arg(long)]
    pub acme_email: Option<String>,
    /// PEM root certificates to trust for the ACME directory instead of the built-in ones
    /// (a private or test CA).
    #[arg(long)]
    pub acme_ca_root: Option<PathBuf>,
    /// How the ACME server checks that a host name is ours: http-01 (port 80) or
    /// tls-alpn-01 (the HTTPS port).
    #[arg(long, default_value = "http-01", value_parser = acme::Challenge::parse)]
    pub acme_challenge: acme::Challenge,
    /// Renew a certificate when it has less than this left.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub acme_renew_before: Duration,
    /// How often certificates are checked for renewal.
    #[arg(long, default_value = "12h", value_parser = parse_duration)]
    pub acme_check_interval: Duration,
}
