//! Token buckets per client, one table per rate-limited service. A client (its address as
//! the proxy sees it through the trusted proxies, or a header's value) may send `burst`
//! requests at once, then `requests` per `per` on average; beyond that it is told when to
//! come back. Clients are keyed by a keyed 64-bit hash of what identifies them (no copy of
//! the key is kept, nothing is allocated per request), in shards each behind its own short
//! lock. Memory is bounded: a bucket that has refilled is the same as no bucket and is swept
//! when a shard is full; if that frees too little, the longest-idle quarter goes.

use dhow_proxy_api::{RateKey, RateLimit};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shards of a table (a power of two).
const SHARDS: usize = 16;
/// Clients tracked per service at most (per shard: this / SHARDS).
pub const MAX_CLIENTS: usize = 65_536;

/// Who a request is, for its bucket.
#[derive(Debug, Clone, Copy)]
pub enum Client<'a> {
    /// The client's address, as text.
    Ip(&'a [u8]),
    /// The value of the limit's header.
    Header(&'a [u8]),
}

/// What the limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Over the limit: a token is back after this long.
    Limited(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Nanoseconds since the limiter's start, when `tokens` was last brought up to date.
    at: u64,
}

/// The hashes are keyed already (see `RateLimiter::keys`): the map needs no second hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, Bucket, BuildHasherDefault<Identity>>;

/// One service's buckets.
pub struct RateLimiter {
    /// The settings it was made from (a redeploy with the same ones keeps the buckets).
    pub settings: RateLimit,
    pub key: RateKey,
    /// Tokens per nanosecond.
    rate: f64,
    capacity: f64,
    start: Instant,
    keys: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter for `settings` (checked: see `RateLimit::check`).
    pub fn new(settings: &RateLimit) -> Result<RateLimiter, String> {
        let key = settings.check()?;
        let burst = if settings.burst == 0 {
            settings.requests
        } else {
            settings.burst
        };
        Ok(RateLimiter {
            rate: settings.requests as f64 / (settings.per_ms as f64 * 1e6),
            capacity: burst as f64,
            key,
            settings: settings.clone(),
            start: Instant::now(),
            keys: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        })
    }

    /// Take a token from `client`'s bucket, if it has one, at `now`.
    pub fn check(&self, client: Client<'_>, now: Instant) -> Verdict {
        let mut h = self.keys.build_hasher();
        match client {
            Client::Ip(b) => {
                h.write_u8(b'i');
                h.write(b);
            }
            Client::Header(b) => {
                h.write_u8(b'h');
                h.write(b);
            }
        }
        let hash = h.finish();
        let at = now.saturating_duration_since(self.start).as_nanos() as u64;
        let Ok(mut shard) = self.shards[(hash as usize) & (SHARDS - 1)].lock() else {
            // A thread panicked holding it: better to pass than to refuse everyone.
            return Verdict::Pass;
        };
        if !shard.contains_key(&hash) && shard.len() >= MAX_CLIENTS / SHARDS {
            self.make_room(&mut shard, at);
        }
        let bucket = shard.entry(hash).or_insert(Bucket {
            tokens: self.capacity,
            at,
        });
        let elapsed = at.saturating_sub(bucket.at) as f64;
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.capacity);
        bucket.at = at;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Pass
        } else {
            let wait_ns = (1.0 - bucket.tokens) / self.rate;
            Verdict::Limited(Duration::from_nanos(wait_ns.ceil() as u64))
        }
    }

    /// A full shard: drop the buckets that have refilled (as good as none), and when that
    /// frees less than an eighth, the quarter idle longest.
    fn make_room(&self, shard: &mut Shard, at: u64) {
        let full_after = (self.capacity / self.rate) as u64;
        shard.retain(|_, b| at.saturating_sub(b.at) < full_after);
        let cap = MAX_CLIENTS / SHARDS;
        if shard.len() < cap - cap / 8 {
            return;
        }
        let mut ats: Vec<u64> = shard.values().map(|b| b.at).collect();
        let quarter = ats.len() / 4;
        let (_, cut, _) = ats.select_nth_unstable(quarter);
        let cut = *cut;
        shard.retain(|_, b| b.at > cut);
    }

    /// Clients tracked now.
    pub fn clients(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.len()))
            .sum()
    }
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_nanos().div_ceil(1_000_000_000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u64, per_ms: u64, burst: u64) -> RateLimiter {
        RateLimiter::new(&RateLimit {
            requests,
            per_ms,
            burst,
            by: "ip".into(),
        })
        .unwrap()
    }

    #[test]
    fn a_burst_then_the_rate_and_other_clients_are_apart() {
        let l = limiter(10, 1000, 3);
        let t0 = l.start + Duration::from_secs(1);
        let a = Client::Ip(b"10.0.0.1");
        for _ in 0..3 {
            assert_eq!(l.check(a, t0), Verdict::Pass);
        }
        let Verdict::Limited(wait) = l.check(a, t0) else {
            panic!("the fourth request at once is over the burst");
        };
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        assert_eq!(retry_after_secs(wait), 1);
        assert_eq!(l.check(Client::Ip(b"10.0.0.2"), t0), Verdict::Pass);
        // The same bytes as a header value are another client.
        assert_eq!(l.check(Client::Header(b"10.0.0.1"), t0), Verdict::Pass);
        // 100 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.check(a, t1), Verdict::Pass);
        assert!(matches!(l.check(a, t1), Verdict::Limited(_)));
    }

    #[test]
    fn burst_defaults_to_requests_and_retry_after_rounds_up() {
        let l = limiter(2, 60_000, 0);
        let t = l.start;
        let c = Client::Header(b"key");
        assert_eq!(l.check(c, t), Verdict::Pass);
        assert_eq!(l.check(c, t), Verdict::Pass);
        let Verdict::Limited(wait) = l.check(c, t) else {
            panic!("over");
        };
        assert_eq!(retry_after_secs(wait), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }

    #[test]
    fn the_table_stays_bounded_under_a_flood_of_clients() {
        let l = limiter(1, 3_600_000, 1);
        let t = l.start;
        for i in 0..(MAX_CLIENTS * 3) {
            let key = format!("c{i}");
            l.check(Client::Header(key.as_bytes()), t);
        }
        assert!(l.clients() <= MAX_CLIENTS, "{}", l.clients());
        // The quarter idle longest goes when nothing has refilled; everything that has
        // refilled goes first.
        let cap = MAX_CLIENTS / SHARDS;
        let mut shard = Shard::default();
        for i in 0..cap as u64 {
            shard.insert(i, Bucket { tokens: 0.0, at: i });
        }
        l.make_room(&mut shard, cap as u64);
        assert!(shard.len() <= cap * 3 / 4, "{}", shard.len());
        assert!(!shard.contains_key(&0) && shard.contains_key(&(cap as u64 - 1)));
        l.make_room(&mut shard, 2 * 3_600_000_000_000 + cap as u64);
        assert!(shard.is_empty());
    }
}
