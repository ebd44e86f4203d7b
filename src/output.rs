//! What the user sees: human lines (optionally prefixed by host), warnings and errors on
//! stderr, or one JSON object per line with `--json`. Quiet and verbose levels live here so
//! commands never check flags themselves.

use serde_json::{json, Value};
use std::io::Write;

/// A line on stdout / stderr. A closed pipe (`dhow deploy | head -1`) must not end a running
/// deploy half-way (println! would panic), so write errors are ignored.
macro_rules! out_line {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! err_line {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use {err_line, out_line};

/// How output is rendered; cheap to clone and pass to every task.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// The diagnostic log (logging.rs) is on: progress lines instead of spinners.
    pub log: bool,
}

impl Output {
    /// A normal progress or result line (suppressed by `-q`; an `info` event with `--json`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.json {
            self.event("info", json!({ "message": msg.as_ref() }));
        } else if !self.quiet {
            out_line!("{}", msg.as_ref());
        }
    }

    /// Detail shown only with `-v`.
    pub fn debug(&self, msg: impl AsRef<str>) {
        if self.verbose {
            if self.json {
                self.event("debug", json!({ "message": msg.as_ref() }));
            } else {
                err_line!("  {}", msg.as_ref());
            }
        }
    }

    /// A line of a host's output or progress, prefixed with the host.
    pub fn host_line(&self, host: &str, stream: &str, line: &str) {
        if self.json {
            self.event(
                "output",
                json!({ "host": host, "stream": stream, "line": line }),
            );
        } else if stream == "stderr" {
            err_line!("{host}: {line}");
        } else {
            out_line!("{host}: {line}");
        }
    }

    /// A warning: always shown, on stderr.
    pub fn warn(&self, msg: impl AsRef<str>) {
        if self.json {
            self.event("warning", json!({ "message": msg.as_ref() }));
        } else {
            err_line!("warning: {}", msg.as_ref());
        }
    }

    /// The final error of a command.
    pub fn error(&self, err: &anyhow::Error) {
        let kind = crate::error::kind_of(err);
        if self.json {
            self.event(
                "error",
                json!({ "message": format!("{err:#}"), "exit_code": kind.code() }),
            );
        } else {
            err_line!("error: {err:#}");
        }
    }

    /// Emit one JSON event line `{"event": name, ...fields}` (only with `--json`).
    pub fn event(&self, name: &str, fields: Value) {
        if !self.json {
            return;
        }
        let mut obj = match fields {
            Value::Object(map) => map,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("data".into(), other);
                m
            }
        };
        obj.insert("event".into(), Value::String(name.to_string()));
        let line = Value::Object(obj).to_string();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    }
}
