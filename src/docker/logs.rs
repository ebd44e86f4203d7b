//! A container's output: the last lines (for error messages, bounded in time), a live
//! stream (for `app logs` / `proxy logs`, which follow until the caller stops reading) and a
//! one-off container's whole output as it comes (`app exec`).

use super::errors::message;
use crate::error::{fail, Kind};
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures::{Stream, StreamExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long reading the last lines of a container may take.
const TAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// The last `lines` lines of a container's output (stdout and stderr).
pub async fn logs_tail(docker: &Docker, name: &str, lines: usize) -> String {
    tail_of(docker, name, lines, true).await
}

/// The last `lines` lines a container wrote to stderr (the proxy's own messages; its stdout is
/// the request log).
pub async fn stderr_tail(docker: &Docker, name: &str, lines: usize) -> String {
    tail_of(docker, name, lines, false).await
}

async fn tail_of(docker: &Docker, name: &str, lines: usize, stdout: bool) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(stdout)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(name, Some(opts));
    let mut text = String::new();
    let collect = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => text.push_str(&chunk.to_string()),
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(TAIL_TIMEOUT, collect).await;
    text
}

/// Which part of a container's log to stream.
#[derive(Debug, Clone, Copy)]
pub struct LogWindow {
    /// Lines of history first.
    pub lines: usize,
    /// Keep streaming new output (no end, and so no timeout: the caller stops reading).
    pub follow: bool,
    /// Only output from this long ago on.
    pub since: Option<Duration>,
    /// Prefix each line with the engine's RFC 3339 timestamp (`docker logs -t`).
    pub timestamps: bool,
}

/// All of a container's output from its start, followed until it exits (a one-off command's
/// output as it comes: `app exec`). No end but the container's, so no timeout here.
pub fn from_start(docker: &Docker, name: &str) -> impl Stream<Item = anyhow::Result<String>> {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(true)
        .tail("all")
        .build();
    let name = name.to_string();
    docker.logs(&name, Some(opts)).map(move |item| {
        item.map(|chunk| chunk.to_string())
            .map_err(|e| fail(Kind::Remote, format!("logs of {name}: {}", message(&e))))
    })
}

/// A container's output (stdout and stderr) as text chunks; an error says `logs of <name>`.
pub fn stream(
    docker: &Docker,
    name: &str,
    window: LogWindow,
) -> impl Stream<Item = anyhow::Result<String>> {
    let mut opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(window.follow)
        .timestamps(window.timestamps)
        .tail(&window.lines.to_string());
    if let Some(ago) = window.since {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        opts = opts.since(now.saturating_sub(ago.as_secs()) as i32);
    }
    let name = name.to_string();
    docker.logs(&name, Some(opts.build())).map(move |item| {
        item.map(|chunk| chunk.to_string())
            .map_err(|e| fail(Kind::Remote, format!("logs of {name}: {}", message(&e))))
    })
}
