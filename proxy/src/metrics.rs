//! Metrics in the Prometheus text format, served on their own port (`run --metrics ADDR`):
//! requests by service and status class, request durations as a histogram, requests in
//! flight, deploys by outcome. Counters are atomics held by each service (carried across
//! table swaps), so counting takes no lock on the request path; each data-plane thread counts
//! in its own cache line (a shard), so threads do not contend for the counters.

use crate::router::Table;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the duration histogram, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Shards per service; threads beyond this many share them.
const SHARDS: usize = 8;

/// One thread's counters: requests per duration bucket (not cumulative; the last one is
/// beyond the largest bound), on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    inflight: AtomicI64,
}

/// One service's (or the unrouted requests') counters.
#[derive(Debug, Default)]
pub struct Stats {
    shards: [Shard; SHARDS],
}

/// This thread's shard number.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.try_with(|i| *i).unwrap_or(0)
}

impl Stats {
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// Count a finished request.
    pub fn observe(&self, status: u16, took: Duration) {
        let shard = &self.shards[shard_index()];
        let class = (status / 100).clamp(1, 5) as usize - 1;
        shard.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard
            .sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Count a request in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InflightStat {
        let shard = self.enter();
        InflightStat(self.clone(), shard)
    }

    /// As `start`, for a guard that does not outlive the caller's hold on these counters.
    pub fn start_here(&self) -> InflightHere<'_> {
        let shard = self.enter();
        InflightHere(self, shard)
    }

    fn enter(&self) -> usize {
        let shard = shard_index();
        self.shards[shard].inflight.fetch_add(1, Ordering::Relaxed);
        shard
    }

    fn leave(&self, shard: usize) {
        self.shards[shard].inflight.fetch_sub(1, Ordering::Relaxed);
    }

    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    fn inflight(&self) -> i64 {
        let n: i64 = self
            .shards
            .iter()
            .map(|s| s.inflight.load(Ordering::Relaxed))
            .sum();
        n.max(0)
    }
}

/// Keeps a request counted as in flight.
pub struct InflightStat(Arc<Stats>, usize);

impl Drop for InflightStat {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// Keeps a request counted as in flight (borrowing the counters).
pub struct InflightHere<'a>(&'a Stats, usize);

impl Drop for InflightHere<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
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
        let n = s.sum(|sh| &sh.by_class[i]);
        if n > 0 {
            let _ = writeln!(
                out,
                "dhow_proxy_requests_total{{service=\"{svc}\",code=\"{class}\"}} {n}"
            );
        }
    }
    let mut count = 0;
    for (i, le) in BUCKETS.iter().enumerate() {
        count += s.sum(|sh| &sh.buckets[i]);
        let _ = writeln!(
            out,
            "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"{le}\"}} {count}"
        );
    }
    count += s.sum(|sh| &sh.buckets[BUCKETS.len()]);
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_sum{{service=\"{svc}\"}} {}",
        s.sum(|sh| &sh.sum_micros) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_count{{service=\"{svc}\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_requests_in_flight{{service=\"{svc}\"}} {}",
        s.inflight()
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
        // Counted on another thread (another shard): the sums see it.
        std::thread::scope(|t| {
            t.spawn(|| s.observe(200, Duration::from_secs(30)));
        });
        let held = s.start_here();
        let mut out = String::new();
        write_stats(&mut out, "a\"b", &s);
        assert!(out.contains("dhow_proxy_requests_total{service=\"a\\\"b\",code=\"2xx\"} 2"));
        assert!(out.contains("code=\"5xx\"} 1"));
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"0.5\"} 2"));
        assert!(out.contains("le=\"10\"} 2"));
        assert!(out.contains("le=\"+Inf\"} 3"));
        assert!(out.contains("_count{service=\"a\\\"b\"} 3"), "{out}");
        assert!(out.contains("in_flight{service=\"a\\\"b\"} 1"), "{out}");
        drop(held);
    }
}
