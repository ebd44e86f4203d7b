//! A canary rollout on one service: a second set of targets (the new version) that gets a
//! share of the service's clients, sticky per client, and which side each request goes to.
//!
//! Stickiness without shared state: a client's cookie value is hashed (FNV-1a, salted with
//! the canary's version, then mixed) to a bucket of 10,000; buckets below the share go to the
//! canary. The same value lands in the same bucket on every host's proxy and after a restart,
//! a larger share keeps every client the smaller one had, and the next rollout (another
//! version, another salt) picks other clients. A client without the cookie gets a new random
//! value with the response (`Set-Cookie`), routed by that same value. A tester's header
//! (`X-Dhow-Canary: canary|stable`) or an allowlisted cookie value choose for themselves.
//! The fast path leaves a service with a canary to the general path (`fast/request.rs`),
//! which asks `forward/side.rs` for each request's side.

use crate::replicas::Replicas;
use crate::stats::Stats;
use crate::upstream::Upstream;
use dhow_proxy_api::CanaryEntry;
use hyper::header::{HeaderMap, HeaderValue, COOKIE};
use std::sync::Arc;

/// Buckets a cookie value falls into; a share is a number of them (hundredths of a percent).
pub const BUCKETS: u32 = 10_000;
/// How long a client keeps its cookie: 30 days.
const COOKIE_MAX_AGE: u32 = 30 * 24 * 3600;
/// Longer cookie values are not read (a client sending one gets a new value).
const MAX_VALUE: usize = 128;

/// A canary beside a service's current targets.
#[derive(Debug)]
pub struct Canary {
    pub version: String,
    pub stable_version: String,
    /// The canary's share in buckets (0 to `BUCKETS`).
    pub basis: u32,
    pub cookie: String,
    pub header: String,
    /// Cookie values always sent to the canary.
    pub allow: Vec<String>,
    pub target: Arc<Upstream>,
    pub replicas: Option<Arc<Replicas>>,
    /// The canary's requests, and the stable side's since the canary started.
    pub stats: Arc<Stats>,
    pub stable_stats: Arc<Stats>,
}

impl Canary {
    /// The same canary with another share (counters carried over).
    pub fn with_basis(&self, basis: u32) -> Canary {
        Canary {
            version: self.version.clone(),
            stable_version: self.stable_version.clone(),
            basis,
            cookie: self.cookie.clone(),
            header: self.header.clone(),
            allow: self.allow.clone(),
            target: self.target.clone(),
            replicas: self.replicas.clone(),
            stats: self.stats.clone(),
            stable_stats: self.stable_stats.clone(),
        }
    }

    pub fn targets(&self) -> &[Arc<Upstream>] {
        match &self.replicas {
            None => std::slice::from_ref(&self.target),
            Some(r) => &r.all,
        }
    }

    pub fn addrs(&self) -> Vec<String> {
        self.targets().iter().map(|t| t.addr.clone()).collect()
    }

    pub fn pick(&self) -> &Arc<Upstream> {
        match &self.replicas {
            None => &self.target,
            Some(r) => r.pick(),
        }
    }

    pub fn is_ready(&self) -> bool {
        match &self.replicas {
            None => self.target.is_ready(),
            Some(r) => r.any_ready(),
        }
    }

    /// The bucket of a cookie value (the same on every proxy, for this canary's version).
    pub fn bucket(&self, value: &str) -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.version.bytes().chain([0]).chain(value.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // splitmix64's finalizer: FNV's low bits alone are not uniform enough.
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        (h % u64::from(BUCKETS)) as u32
    }

    /// Does this request go to the canary, and does its client need a cookie?
    pub fn choose(&self, headers: &HeaderMap) -> (bool, Option<String>) {
        if let Some(v) = headers.get(self.header.as_str()) {
            match v.as_bytes().to_ascii_lowercase().as_slice() {
                b"canary" | b"1" | b"true" | b"yes" => return (true, None),
                b"stable" | b"0" | b"false" | b"no" => return (false, None),
                _ => {}
            }
        }
        if let Some(value) = cookie_value(headers, &self.cookie) {
            let to_canary =
                self.allow.iter().any(|a| a == value) || self.bucket(value) < self.basis;
            return (to_canary, None);
        }
        let value = format!("{:016x}", crate::replicas::random());
        (self.bucket(&value) < self.basis, Some(value))
    }

    /// The `Set-Cookie` value giving a client `value`.
    pub fn set_cookie(&self, value: &str, tls: bool) -> Option<HeaderValue> {
        let secure = if tls { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{secure}",
            self.cookie
        );
        HeaderValue::from_str(&text).ok()
    }

    pub fn entry(&self) -> CanaryEntry {
        CanaryEntry {
            allow: self.allow.clone(),
            cookie: self.cookie.clone(),
            header: self.header.clone(),
            healthy: self.is_ready(),
            percent: f64::from(self.basis) / 100.0,
            stable_version: self.stable_version.clone(),
            targets: self.addrs(),
            version: self.version.clone(),
        }
    }
}

/// The named cookie's value in the request's `Cookie` header(s), when it is one the proxy
/// reads (printable, not too long).
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_VALUE && v.bytes().all(|b| b.is_ascii_graphic())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(basis: u32) -> Canary {
        Canary {
            version: "v2".into(),
            stable_version: "v1".into(),
            basis,
            cookie: "dhow_canary".into(),
            header: "x-dhow-canary".into(),
            allow: vec!["tester".into()],
            target: Upstream::new("c:80", true),
            replicas: None,
            stats: Stats::new(),
            stable_stats: Stats::new(),
        }
    }

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=1; dhow_canary={v}; b=2")).unwrap(),
        );
        h
    }

    #[test]
    fn the_share_of_clients_matches_and_a_larger_share_keeps_them() {
        let (c20, c50) = (canary(2000), canary(5000));
        let values: Vec<String> = (0..10_000).map(|i| format!("{i:016x}")).collect();
        let on = |c: &Canary| -> Vec<bool> {
            values.iter().map(|v| c.choose(&with_cookie(v)).0).collect()
        };
        let (a, b) = (on(&c20), on(&c50));
        let share = a.iter().filter(|x| **x).count();
        assert!((1800..=2200).contains(&share), "{share}");
        assert!(a.iter().zip(&b).all(|(x, y)| !x || *y), "20% ⊂ 50%");
        assert_eq!(on(&c20), a, "the same client, the same side");
    }

    #[test]
    fn new_clients_get_a_cookie_and_headers_and_allowlist_choose() {
        let c = canary(0);
        let (to, value) = c.choose(&HeaderMap::new());
        let value = value.expect("a new client gets a value");
        assert_eq!(to, c.bucket(&value) < c.basis);
        let sc = c.set_cookie(&value, true).unwrap();
        assert!(sc
            .to_str()
            .unwrap()
            .starts_with(&format!("dhow_canary={value}; Path=/")));
        assert!(sc.to_str().unwrap().ends_with("; Secure"));
        assert_eq!(c.choose(&with_cookie("tester")), (true, None));
        let mut h = HeaderMap::new();
        h.insert("x-dhow-canary", HeaderValue::from_static("Canary"));
        assert_eq!(c.choose(&h), (true, None));
        let all = canary(BUCKETS);
        let mut h = with_cookie("x");
        h.insert("x-dhow-canary", HeaderValue::from_static("stable"));
        assert_eq!(all.choose(&h), (false, None));
        assert_eq!(all.choose(&with_cookie("x")), (true, None));
    }

    #[test]
    fn odd_cookie_values_are_not_read() {
        let c = canary(5000);
        let long = "x".repeat(MAX_VALUE + 1);
        assert!(c.choose(&with_cookie(&long)).1.is_some());
        assert!(c.choose(&with_cookie("")).1.is_some());
        assert!(c.choose(&with_cookie("\"abc\"")).1.is_none());
    }
}
