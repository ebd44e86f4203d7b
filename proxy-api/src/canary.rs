//! The wire of canary rollouts: starting one beside a service's current targets
//! (`POST /v1/services/NAME/canary`), changing its share (`.../canary/share`), taking it back
//! (`.../canary/abort`), and each version's request counters (`GET /v1/services/NAME/stats`).
//! Finishing one is an ordinary deploy to the canary's targets.

use crate::request::HealthSpec;
use serde::{Deserialize, Serialize};

/// The cookie that keeps a client on one version, unless the request names another.
pub const DEFAULT_CANARY_COOKIE: &str = "dhow_canary";
/// The header a tester sends to choose a version: `canary` (or `1`) or `stable` (or `0`).
pub const DEFAULT_CANARY_HEADER: &str = "X-Dhow-Canary";

/// `POST /v1/services/NAME/canary`: health-check `targets`, then send `percent` of the
/// service's clients to them, sticky per client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CanaryRequest {
    /// The canary's targets, `HOST:PORT` each (several with replicas).
    pub targets: Vec<String>,
    /// The share of clients sent to the canary, 0 to 100 (hundredths count).
    pub percent: f64,
    /// The canary's version, and the one serving the rest (shown by `stats` and `list`).
    pub version: String,
    #[serde(default)]
    pub stable_version: String,
    /// The cookie that keeps a client on one version (none: `dhow_canary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// The header that chooses a version for one request (none: `X-Dhow-Canary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Cookie values always sent to the canary, whatever the share (testers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default)]
    pub health: HealthSpec,
    #[serde(default = "crate::request::default_deploy_timeout")]
    pub deploy_timeout_ms: u64,
    /// Judge the canary against the stable side for a while; past a limit the proxy aborts
    /// it by itself (`GET .../bake` says how it goes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<crate::request::BakeSpec>,
}

/// `POST /v1/services/NAME/canary/share`: a new share for the running canary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CanaryShare {
    pub percent: f64,
}

/// `POST /v1/services/NAME/canary/abort`: every client back on the stable targets, the
/// canary's drained (the answer comes after the drain).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CanaryAbort {
    #[serde(default = "crate::request::default_drain_timeout")]
    pub drain_timeout_ms: u64,
}

/// A running canary, as `list`, `stats` and every canary answer show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CanaryEntry {
    pub allow: Vec<String>,
    pub cookie: String,
    pub header: String,
    /// Some canary target answers its health check.
    pub healthy: bool,
    pub percent: f64,
    pub stable_version: String,
    pub targets: Vec<String>,
    pub version: String,
}

/// One version's requests since its counters started (the canary's, and the stable
/// targets' since the canary started).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct VersionStats {
    /// Answers with a 5xx status.
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// The upper bound of the duration bucket holding the 99th percentile (none without
    /// requests; beyond the largest bucket: its bound).
    pub p99_ms: Option<f64>,
    pub requests: u64,
    /// `canary` or `stable`.
    pub side: String,
    pub version: String,
}

/// `GET /v1/services/NAME/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatsAnswer {
    pub canary: Option<CanaryEntry>,
    pub service: String,
    /// The whole service since the proxy started.
    pub total: VersionStats,
    /// With a canary: the stable side, then the canary; none without one.
    pub versions: Vec<VersionStats>,
}

/// A share as the proxy keeps it: hundredths of a percent, 0 to 10,000.
pub fn basis_points(percent: f64) -> Result<u32, String> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return Err(format!(
            "a canary's share is 0 to 100 percent, not {percent}"
        ));
    }
    Ok((percent * 100.0).round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_checked_and_kept_in_hundredths() {
        assert_eq!(basis_points(20.0), Ok(2000));
        assert_eq!(basis_points(0.05), Ok(5));
        assert_eq!(basis_points(100.0), Ok(10_000));
        assert!(basis_points(100.5).is_err());
        assert!(basis_points(-1.0).is_err());
        assert!(basis_points(f64::NAN).is_err());
    }

    #[test]
    fn a_minimal_request_reads_with_defaults() {
        let r: CanaryRequest =
            serde_json::from_str(r#"{"targets":["a:1"],"percent":20,"version":"v2"}"#).unwrap();
        assert_eq!(r.cookie, None);
        assert_eq!(r.deploy_timeout_ms, crate::DEFAULT_DEPLOY_TIMEOUT_MS);
        let abort: CanaryAbort = serde_json::from_str("{}").unwrap();
        assert_eq!(abort.drain_timeout_ms, crate::DEFAULT_DRAIN_TIMEOUT_MS);
    }
}
