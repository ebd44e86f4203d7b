//! A service's traffic controls on the wire (part of a deploy request and of the proxy's
//! state file): several path prefixes, a token-bucket rate limit per client, the team's own
//! error pages and a canonical host. Every field is optional and left out when unset, so a
//! deploy without them is byte for byte what an older dhow sent. More per-service traffic
//! settings (replicas, canary shares) belong here too.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The error pages a service may have, by name: the statuses the proxy answers itself, and
/// the page of a stopped (maintenance) service.
pub const ERROR_PAGE_NAMES: [&str; 4] = ["502", "503", "504", "maintenance"];

/// The largest error page the proxy takes, in bytes.
pub const MAX_ERROR_PAGE: usize = 256 * 1024;

/// In a maintenance page, replaced by the (HTML-escaped) message of `stop` (Kamal's spelling).
pub const MESSAGE_PLACEHOLDER: &str = "{{ .Message }}";

/// Traffic settings of a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Traffic {
    /// Several path prefixes routed to the service (instead of `path_prefix`, not with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// HTML pages by name (see [`ERROR_PAGE_NAMES`]), served instead of the proxy's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_pages: BTreeMap<String, String>,
    /// Requests for the service's other hosts are redirected (301) to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_host: Option<String>,
}

impl Traffic {
    /// Nothing set: what an older proxy would not miss.
    pub fn is_empty(&self) -> bool {
        self == &Traffic::default()
    }
}

/// A token bucket per client: `burst` requests at once, refilled at `requests` per `per_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RateLimit {
    pub requests: u64,
    pub per_ms: u64,
    /// The bucket's size; 0 = `requests`.
    #[serde(default)]
    pub burst: u64,
    /// What a client is: `ip` (its address, through the trusted proxies) or `header:NAME`.
    #[serde(default = "by_ip")]
    pub by: String,
}

fn by_ip() -> String {
    "ip".into()
}

/// What `RateLimit::by` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    Ip,
    Header(String),
}

impl RateKey {
    /// `ip` or `header:X-Name` (a header name of token characters).
    pub fn parse(by: &str) -> Result<RateKey, String> {
        if by == "ip" {
            return Ok(RateKey::Ip);
        }
        match by.strip_prefix("header:") {
            Some(name)
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) =>
            {
                Ok(RateKey::Header(name.to_string()))
            }
            _ => Err(format!(
                "by = \"{by}\": expected \"ip\" or \"header:NAME\" (like header:X-Api-Key)"
            )),
        }
    }
}

impl RateLimit {
    /// The checks both sides make: at least one request, a period of at least 1 ms, a known key.
    pub fn check(&self) -> Result<RateKey, String> {
        if self.requests == 0 {
            return Err("requests must be at least 1".into());
        }
        if self.per_ms == 0 {
            return Err("per must be at least 1ms".into());
        }
        RateKey::parse(&self.by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_traffic_is_written_as_nothing_and_parses_back() {
        assert_eq!(serde_json::to_string(&Traffic::default()).unwrap(), "{}");
        let t = Traffic {
            path_prefixes: vec!["/api".into(), "/admin".into()],
            rate_limit: Some(RateLimit {
                requests: 10,
                per_ms: 1000,
                burst: 5,
                by: "header:X-Key".into(),
            }),
            error_pages: [("502".to_string(), "<p>down</p>".to_string())].into(),
            canonical_host: Some("a.test".into()),
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Traffic>(&json).unwrap(), t);
        let r: RateLimit = serde_json::from_str(r#"{"requests":1,"per_ms":1}"#).unwrap();
        assert_eq!((r.burst, r.by.as_str()), (0, "ip"));
    }

    #[test]
    fn rate_keys_and_limits_are_checked() {
        assert_eq!(RateKey::parse("ip"), Ok(RateKey::Ip));
        assert_eq!(
            RateKey::parse("header:X-Api-Key"),
            Ok(RateKey::Header("X-Api-Key".into()))
        );
        for bad in ["", "IP", "header:", "header:X Key", "cookie:a"] {
            assert!(RateKey::parse(bad).is_err(), "{bad}");
        }
        let mut r = RateLimit {
            requests: 0,
            per_ms: 1000,
            burst: 0,
            by: "ip".into(),
        };
        assert!(r.check().unwrap_err().contains("requests"));
        r.requests = 1;
        r.per_ms = 0;
        assert!(r.check().unwrap_err().contains("per"));
        r.per_ms = 1;
        assert!(r.check().is_ok());
    }
}
