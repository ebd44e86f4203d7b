//! The proxy's operational log (startup, state problems, connection limits, ACME, shutdown)
//! through `tracing`, on stderr: one JSON object per line by default (what `docker logs` and
//! log shippers read), or human text with `--log-format text`. `RUST_LOG` picks levels and
//! modules as usual (e.g. `RUST_LOG=dhow_proxy=debug`); without it `--debug` means debug and
//! the default is info. The access log (one JSON line per request on stdout) is not this log.

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Install the global subscriber (once, at start; later calls do nothing).
pub fn init(format: LogFormat, debug: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if debug { "debug" } else { "info" }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
