//! The proxy's operational log (startup, state problems, connection limits, ACME, shutdown)
//! through `tracing`, on stderr: one JSON object per line by default (what `docker logs` and
//! log shippers read), or human text with `--log-format text`. `RUST_LOG` picks levels and
//! modules as usual (e.g. `RUST_LOG=dhow_proxy=debug`); without it `--debug` means debug and
//! the default is info. The access log (one JSON line per request on stdout) is not this log.
//!
//! A closed or broken stderr never stops the proxy: a write that fails is dropped silently
//! (`log_internal_errors(false)`; by default tracing reports it with `eprintln!`, which
//! panics, taking the logging thread down, when stderr is a pipe nobody reads any more). A
//! stderr closed before start is /dev/null by then (Rust's runtime opens it on any missing
//! standard descriptor), so no socket becomes fd 2; `tests/stderr.rs` checks both.

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
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
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
