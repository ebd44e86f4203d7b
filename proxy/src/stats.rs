//! Request counters: per service (and for unrouted requests) requests by status class, a
//! duration histogram and requests in flight, plus the proxy-wide deploy counters. Counters
//! are atomics held by each service (carried across table swaps), so counting takes no lock on
//! the request path; each data-plane thread counts in its own cache line (a shard), so threads
//! do not contend for the counters. `metrics` renders them.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the duration histogram, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The status classes counted, in `by_class` order.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
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
    /// Requests refused by the service's rate limit (429).
    rate_limited: AtomicU64,
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

    /// Count a request refused by the rate limit (it is counted as answered too).
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused by the rate limit so far.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
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
    pub fn start_here(&self) -> InflightStatRef<'_> {
        let shard = self.enter();
        InflightStatRef(self, shard)
    }

    fn enter(&self) -> usize {
        let shard = shard_index();
        self.shards[shard].inflight.fetch_add(1, Ordering::Relaxed);
        shard
    }

    fn leave(&self, shard: usize) {
        self.shards[shard].inflight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Requests of status class `i` (an index into `CLASSES`).
    pub fn class(&self, i: usize) -> u64 {
        self.sum(|sh| &sh.by_class[i])
    }

    /// Requests in duration bucket `i` (not cumulative; `BUCKETS.len()`: beyond the largest).
    pub fn bucket(&self, i: usize) -> u64 {
        self.sum(|sh| &sh.buckets[i])
    }

    /// The durations' sum, in microseconds.
    pub fn sum_micros(&self) -> u64 {
        self.sum(|sh| &sh.sum_micros)
    }

    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    /// Requests answered, those with a 5xx, and the upper bound (seconds) of the duration
    /// bucket holding the 99th percentile (the largest bound when beyond it).
    pub fn summary(&self) -> (u64, u64, Option<f64>) {
        self.counts().summary()
    }

    /// The counters as they are now (to take one reading from another).
    pub fn counts(&self) -> Counts {
        Counts {
            by_class: std::array::from_fn(|i| self.class(i)),
            buckets: std::array::from_fn(|i| self.bucket(i)),
        }
    }

    pub fn inflight(&self) -> i64 {
        let n: i64 = self
            .shards
            .iter()
            .map(|s| s.inflight.load(Ordering::Relaxed))
            .sum();
        n.max(0)
    }
}

/// A reading of a service's counters: requests per status class and per duration bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub by_class: [u64; 5],
    pub buckets: [u64; BUCKETS.len() + 1],
}

impl Counts {
    /// What was counted between `earlier` and this reading.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            by_class: std::array::from_fn(|i| self.by_class[i].saturating_sub(earlier.by_class[i])),
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
        }
    }

    /// This reading as the control wire shows one side of a service (`stats`, `bake`).
    pub fn version_stats(&self, side: &str, version: &str) -> dhow_proxy_api::VersionStats {
        let (requests, errors, p99) = self.summary();
        dhow_proxy_api::VersionStats {
            errors,
            error_rate: error_rate(errors, requests),
            p99_ms: p99.map(|s| s * 1000.0),
            requests,
            side: side.to_string(),
            version: version.to_string(),
        }
    }

    /// Requests, those with a 5xx, and the upper bound (seconds) of the duration bucket
    /// holding the 99th percentile (the largest bound when beyond it; none without requests).
    pub fn summary(&self) -> (u64, u64, Option<f64>) {
        let requests: u64 = self.by_class.iter().sum();
        let rank = requests - requests / 100;
        let mut seen = 0;
        let p99 = (requests > 0).then(|| {
            for (i, le) in BUCKETS.iter().enumerate() {
                seen += self.buckets[i];
                if seen >= rank {
                    return *le;
                }
            }
            BUCKETS[BUCKETS.len() - 1]
        });
        (requests, self.by_class[4], p99)
    }
}

/// `errors / requests`, 0 without requests.
pub fn error_rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
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
pub struct InflightStatRef<'a>(&'a Stats, usize);

impl Drop for InflightStatRef<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// Proxy-wide counters.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests no service was routed for.
    pub unrouted: Arc<Stats>,
    pub deploys_ok: AtomicU64,
    pub deploys_failed: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_give_what_came_between_and_its_p99() {
        let s = Stats::new();
        s.observe(200, Duration::from_millis(1));
        let before = s.counts();
        for i in 0..100 {
            let status = if i % 10 == 0 { 500 } else { 200 };
            let took = if i < 98 { 3 } else { 200 };
            s.observe(status, Duration::from_millis(took));
        }
        let (requests, errors, p99) = s.counts().since(&before).summary();
        assert_eq!((requests, errors), (100, 10));
        assert_eq!(p99, Some(0.25), "the 99th of 100 is in the 250 ms bucket");
        assert_eq!(Counts::default().summary(), (0, 0, None));
    }
}
