//! Metrics in the Prometheus text format, served on their own port (`run --metrics ADDR`):
//! requests by service and status class, request durations as a histogram, requests in
//! flight, deploys by outcome. Counters are atomics held by each service (carried across
//! table swaps), so counting takes no lock on the request path.

use crate::router::Table;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the duration histogram, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One service's (or the unrouted requests') counters.
#[derive(Debug, Default)]
pub struct Stats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    inflight: AtomicU64,
}

impl Stats {
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// Count a finished request.
    pub fn observe(&self, status: u16, took: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Count a request in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InflightStat {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightStat(self.clone())
    }
}

/// Keeps a request counted as in flight.
pub struct InflightStat(Arc<Stats>);

impl Drop for InflightStat {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Proxy-wide counters.
#[derive(Debug, Default)]
pub struct Global {
    /// Requests no service was routed for.
    pub unrouted: Arc<Stats>,
    pub deploys_ok: AtomicU64,
    pub deploys_failed: AtomicU64,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_stats(out: &mut String, service: &str, s: &Stats) {
    let svc = label(service);
    for (i, class) in CLASSES.iter().enumerate() {
        let n = s.by_class[i].load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(
                out,
                "dhow_proxy_requests_total{{service=\"{svc}\",code=\"{class}\"}} {n}"
            );
        }
    }
    for (i, le) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"{le}\"}} {}",
            s.buckets[i].load(Ordering::Relaxed)
        );
    }
    let count = s.count.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_sum{{service=\"{svc}\"}} {}",
        s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_count{{service=\"{svc}\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_requests_in_flight{{service=\"{svc}\"}} {}",
        s.inflight.load(Ordering::Relaxed)
    );
}

/// The whole exposition.
pub fn render(table: &Table, global: &Global) -> String {
    let mut out = String::new();
    out.push_str("# HELP dhow_proxy_requests_total Requests answered, by service and status class.\n# TYPE dhow_proxy_requests_total counter\n");
    out.push_str("# HELP dhow_proxy_request_duration_seconds Time from request to response head.\n# TYPE dhow_proxy_request_duration_seconds histogram\n");
    out.push_str("# HELP dhow_proxy_requests_in_flight Requests being answered now.\n# TYPE dhow_proxy_requests_in_flight gauge\n");
    for s in &table.services {
        write_stats(&mut out, &s.name, &s.stats);
    }
    write_stats(&mut out, "", &global.unrouted);
    out.push_str("# HELP dhow_proxy_deploys_total Deploys (target switches) by outcome.\n# TYPE dhow_proxy_deploys_total counter\n");
    let _ = writeln!(
        out,
        "dhow_proxy_deploys_total{{result=\"ok\"}} {}",
        global.deploys_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "dhow_proxy_deploys_total{{result=\"failed\"}} {}",
        global.deploys_failed.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "dhow_proxy_services {}", table.services.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let s = Stats::default();
        s.observe(200, Duration::from_millis(3));
        s.observe(503, Duration::from_millis(300));
        let mut out = String::new();
        write_stats(&mut out, "a\"b", &s);
        assert!(out.contains("dhow_proxy_requests_total{service=\"a\\\"b\",code=\"2xx\"} 1"));
        assert!(out.contains("code=\"5xx\"} 1"));
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"0.5\"} 2"));
        assert!(out.contains("le=\"+Inf\"} 2"));
    }
}
