//! dhow's diagnostic log through `tracing`, on stderr, beside (not instead of) the user-facing
//! output of `output.rs`: what ran where and how long it took. Off by default (warnings only);
//! `-v` shows each host's steps with their timings and SSH connections (info), `-vv` every
//! remote command and Docker API call with its duration (debug), `-vvv` everything, russh and
//! bollard included (trace). `RUST_LOG` overrides the levels as usual (`RUST_LOG=dhow=debug`).
//! `--log-format json` writes one JSON object per line, with the host span's fields.
//! A closed or broken stderr drops log lines silently (`log_internal_errors(false)`) rather
//! than making tracing report the failure with `eprintln!`, which panics on a broken pipe.

use tracing_subscriber::EnvFilter;

/// How diagnostic lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The filter for `-v` repeated `verbosity` times (when RUST_LOG is not set).
pub fn filter_for(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "warn",
        1 => "warn,dhow=info",
        2 => "info,dhow=debug",
        _ => "trace",
    }
}

/// Is the diagnostic log on (any `-v`, or RUST_LOG set)? Progress spinners give way to it.
pub fn active(verbosity: u8) -> bool {
    verbosity > 0 || std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty())
}

/// Install the global subscriber (once, at start).
pub fn init(verbosity: u8, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(verbosity)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_target(verbosity > 2);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_shows_more() {
        assert_eq!(filter_for(0), "warn");
        assert!(filter_for(1).contains("dhow=info"));
        assert!(filter_for(2).contains("dhow=debug"));
        assert_eq!(filter_for(5), "trace");
    }
}
