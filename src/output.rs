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
        if self.json {
            self.event(
                "error",
                json!({ "message": format!("{err:#}"), "exit_code": crate::error::exit_code(err) }),
            );
        } else {
            err_line!("error: {err:#}");
        }
    }

    /// A command's result (what a data command prints: details, versions, prune, ...): with
    /// `--json` one `{"event": kind, ...}` line with `value`'s fields; otherwise `human()`
    /// prints it. Data commands go through here, so `--json` gets typed objects instead of
    /// `output` lines, and human output never carries JSON. The shapes are in the README.
    pub fn data<T: serde::Serialize>(&self, kind: &str, value: &T, human: impl FnOnce()) {
        if !self.json {
            human();
            return;
        }
        let fields = serde_json::to_value(value)
            .unwrap_or_else(|e| json!({ "error": format!("cannot write {kind} as JSON: {e}") }));
        self.event(kind, fields);
    }

    /// Emit one JSON event line `{"event": name, ...fields}` (only with `--json`).
    pub fn event(&self, name: &str, fields: Value) {
        if !self.json {
            return;
        }
        let line = event_line(name, fields);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    }
}

/// `{"event": name, ...fields}`; fields that are no object go under `data`.
fn event_line(name: &str, fields: Value) -> String {
    let mut obj = match fields {
        Value::Object(map) => map,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("data".into(), other);
            m
        }
    };
    obj.insert("event".into(), Value::String(name.to_string()));
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Host {
        host: String,
        running: bool,
        size: u64,
    }

    #[test]
    fn data_is_one_typed_object_with_json_and_the_human_lines_without() {
        let record = Host {
            host: "h1".into(),
            running: true,
            size: 7,
        };
        let line = event_line("thing", serde_json::to_value(&record).unwrap());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({ "event": "thing", "host": "h1", "running": true, "size": 7 })
        );
        assert_eq!(
            event_line("n", json!(3)),
            json!({ "event": "n", "data": 3 }).to_string()
        );

        let human = std::cell::Cell::new(0);
        let json_out = Output {
            json: true,
            ..Output::default()
        };
        json_out.data("thing", &record, || human.set(human.get() + 1));
        assert_eq!(human.get(), 0, "--json prints no human lines");
        Output::default().data("thing", &record, || human.set(human.get() + 1));
        assert_eq!(human.get(), 1);
    }
}
