//! Progress while work runs: one line per host showing its current step (an indicatif
//! spinner on a terminal, plain `host: step` lines otherwise, `step` events with `--json`),
//! and the summary table printed once at the end.

use crate::output::{err_line, out_line, Output};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-host progress.
pub struct Progress {
    out: Output,
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    last: Mutex<HashMap<String, String>>,
    /// Each host's current step and when it began, for the diagnostic log's timings.
    began: Mutex<HashMap<String, (String, Instant)>>,
    /// Per host: when a transfer began and when its bytes were last shown.
    transfers: Mutex<HashMap<String, (Instant, Instant)>>,
}

impl Progress {
    pub fn new(out: Output, hosts: &[String]) -> Self {
        let use_bars = !out.json && !out.quiet && !out.log && std::io::stderr().is_terminal();
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
            began: Mutex::new(HashMap::new()),
            transfers: Mutex::new(HashMap::new()),
        }
    }

    /// Bytes of a transfer (`what`, e.g. "delivering the image") sent so far to `host`, with
    /// the rate: on the host's spinner at every call, as a line or a `transfer` event at most
    /// every 2 s (0.5 s with --json).
    pub fn bytes(&self, host: &str, what: &str, sent: u64) {
        let now = Instant::now();
        let (began, shown) = {
            let mut t = self.transfers.lock().unwrap_or_else(|p| p.into_inner());
            let entry = t.entry(host.to_string()).or_insert((now, now));
            let every = Duration::from_millis(if self.out.json { 500 } else { 2000 });
            let due = now.duration_since(entry.1) >= every;
            if due {
                entry.1 = now;
            }
            (entry.0, due)
        };
        let secs = now.duration_since(began).as_secs_f64();
        if let Some((_, bars)) = &self.bars {
            if let Some(bar) = bars.get(host) {
                bar.set_message(format!("{what}: {}", rate(sent, secs)));
                return;
            }
        }
        if !shown {
            return;
        }
        if self.out.json {
            self.out.event(
                "transfer",
                serde_json::json!({ "host": host, "what": what, "bytes": sent, "seconds": secs }),
            );
        } else if !self.out.quiet {
            err_line!("{host}: {what}: {}", rate(sent, secs));
        }
    }

    /// The transfer to `host` ended: `total` bytes (0: the host had it already).
    pub fn bytes_done(&self, host: &str, what: &str, total: u64) {
        let began = self
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(host)
            .map(|(b, _)| b);
        let secs = began.map_or(0.0, |b| b.elapsed().as_secs_f64());
        let msg = if total == 0 {
            format!("{what}: the host has it already")
        } else {
            format!("{what}: sent {}", rate(total, secs))
        };
        if self.out.json {
            self.out.event(
                "transfer",
                serde_json::json!({ "host": host, "what": what, "bytes": total, "seconds": secs, "done": true }),
            );
        } else {
            self.step(host, None, &msg);
        }
    }

    /// The diagnostic log: the host's previous step ended (with its time), `next` began.
    fn log_step(&self, host: &str, role: Option<&str>, next: Option<&str>) {
        let mut began = self.began.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((step, at)) = began.remove(host) {
            let ms = at.elapsed().as_millis() as u64;
            tracing::info!(host, step = step.as_str(), ms, "{host}: {step} ({ms} ms)");
        }
        if let Some(next) = next {
            tracing::debug!(host, role, step = next, "{host}: {next}");
            began.insert(host.to_string(), (next.to_string(), Instant::now()));
        }
    }

    /// The host's current step.
    pub fn step(&self, host: &str, role: Option<&str>, msg: &str) {
        self.log_step(host, role, Some(msg));
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
            err_line!("{host}: {msg}");
        }
    }

    /// The host is done (successfully or not).
    pub fn finish(&self, host: &str, ok: bool, msg: &str) {
        self.log_step(host, None, None);
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

/// `12.3 MB in 1.2 s (10.2 MB/s)`.
fn rate(bytes: u64, secs: f64) -> String {
    let mb = bytes as f64 / 1e6;
    if secs < 0.05 {
        return format!("{mb:.1} MB");
    }
    format!("{mb:.1} MB in {secs:.1} s ({:.1} MB/s)", mb / secs)
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
    out_line!("{}", line(headers));
    for row in &cells {
        out_line!("{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
}
