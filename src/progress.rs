//! Progress while work runs: one line per host showing its current step (an indicatif
//! spinner on a terminal, plain `host: step` lines otherwise, `step` events with `--json`),
//! and the summary table printed once at the end.

use crate::output::Output;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Per-host progress.
pub struct Progress {
    out: Output,
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    last: Mutex<HashMap<String, String>>,
}

impl Progress {
    pub fn new(out: Output, hosts: &[String]) -> Self {
        let use_bars = !out.json && !out.quiet && std::io::stderr().is_terminal();
        let bars = use_bars.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = hosts.iter().map(|h| h.len()).max().unwrap_or(4);
            let style = ProgressStyle::with_template(&format!(
                "{{spinner}} {{prefix:<{width}}} {{elapsed:>4}} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let map = hosts
                .iter()
                .map(|h| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(h.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (h.clone(), bar)
                })
                .collect();
            (multi, map)
        });
        Progress {
            out,
            bars,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// The host's current step.
    pub fn step(&self, host: &str, role: Option<&str>, msg: &str) {
        if self.out.json {
            self.out.event(
                "step",
                serde_json::json!({ "host": host, "role": role, "step": msg }),
            );
            return;
        }
        if let Some((_, bars)) = &self.bars {
            if let Some(bar) = bars.get(host) {
                bar.set_message(msg.to_string());
                return;
            }
        }
        if self.out.quiet {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(host).map(String::as_str) != Some(msg) {
            last.insert(host.to_string(), msg.to_string());
            eprintln!("{host}: {msg}");
        }
    }

    /// The host is done (successfully or not).
    pub fn finish(&self, host: &str, ok: bool, msg: &str) {
        if let Some((_, bars)) = &self.bars {
            if let Some(bar) = bars.get(host) {
                bar.finish_with_message(format!("{} {msg}", if ok { "done:" } else { "FAILED:" }));
                return;
            }
        }
        self.step(
            host,
            None,
            &format!("{} {msg}", if ok { "done:" } else { "FAILED:" }),
        );
    }

    /// Print a line above the bars without garbling them.
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => self.out.info(line),
        }
    }
}

/// One row of the summary table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub host: String,
    pub role: String,
    pub version: String,
    pub result: String,
    pub seconds: f64,
}

/// Print the summary: a table, or one `summary` event per row with `--json`.
pub fn summary(out: &Output, rows: &[Row]) {
    if out.json {
        for r in rows {
            out.event("summary", serde_json::to_value(r).unwrap_or_default());
        }
        return;
    }
    let headers = ["HOST", "ROLE", "VERSION", "RESULT", "TIME"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.host.clone(),
                r.role.clone(),
                r.version.clone(),
                r.result.clone(),
                format!("{:.1}s", r.seconds),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 5]| {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(headers));
    for row in &cells {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
}
