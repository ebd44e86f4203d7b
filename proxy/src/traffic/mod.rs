//! A service's traffic controls, made ready for the request path from its deploy's wire
//! settings (`dhow_proxy_api::Traffic`): the rate limit's buckets (`rate.rs`), its error pages
//! (`pages.rs`) and its canonical host, with the redirect to it. Both HTTP paths read them
//! through [`ServiceTraffic`]; the router keeps the path prefixes.

pub mod pages;
pub mod rate;

use crate::policy::host;
use dhow_proxy_api::Traffic;
use pages::ErrorPages;
use rate::RateLimiter;
use std::sync::Arc;

/// What the request path needs of a service's traffic settings.
#[derive(Debug, Default)]
pub struct ServiceTraffic {
    /// The settings as deployed, less the path prefixes the router keeps (saved in the
    /// state file).
    pub wire: Traffic,
    pub limiter: Option<Arc<RateLimiter>>,
    pub pages: ErrorPages,
    /// The host every other one of the service's hosts is redirected to (lower case).
    pub canonical: Option<String>,
}

impl ServiceTraffic {
    /// Ready `wire` for the request path; a rate limit with the same settings as `old`'s
    /// keeps its buckets (a redeploy does not hand every client a fresh burst).
    pub fn new(wire: &Traffic, old: Option<&ServiceTraffic>) -> Result<ServiceTraffic, String> {
        let limiter = match &wire.rate_limit {
            None => None,
            Some(r) => match old.and_then(|o| o.limiter.as_ref()) {
                Some(l) if &l.settings == r => Some(l.clone()),
                _ => Some(Arc::new(
                    RateLimiter::new(r).map_err(|e| format!("rate_limit: {e}"))?,
                )),
            },
        };
        let canonical = match &wire.canonical_host {
            Some(h) if h.trim().is_empty() || h.contains(['/', ' ', '*', '@']) => {
                return Err(format!("canonical_host \"{h}\" must be a host name"));
            }
            Some(h) => Some(h.trim().to_ascii_lowercase()),
            None => None,
        };
        Ok(ServiceTraffic {
            wire: Traffic {
                path_prefixes: Vec::new(),
                ..wire.clone()
            },
            limiter,
            pages: ErrorPages::new(&wire.error_pages)?,
            canonical,
        })
    }

    /// A request for `host` (a Host value) goes elsewhere: the canonical host, when the
    /// service has one and this is not it.
    #[inline]
    pub fn redirects(&self, host_value: &str) -> bool {
        self.canonical
            .as_deref()
            .is_some_and(|c| !host::name(host_value).eq_ignore_ascii_case(c))
    }

    /// The Location of the redirect to the canonical host: same scheme, same port as the
    /// request named (if any), same path and query.
    pub fn canonical_location(&self, host_value: &str, tls: bool, path_and_query: &str) -> String {
        let canonical = self.canonical.as_deref().unwrap_or_default();
        let name = host::name(host_value);
        let port = host_value
            .strip_prefix(name)
            .filter(|rest| rest.starts_with(':') && rest.len() > 1)
            .unwrap_or("");
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{canonical}{port}{path_and_query}")
    }
}

/// A service's prefixes as routed: trailing `/` taken off, `/` and empty ones dropped (they
/// mean every path), each once.
pub fn normalize_prefixes<'a>(prefixes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = prefixes
        .into_iter()
        .map(|p| p.trim().trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The checks of a deploy's routing settings that the request alone allows, and the
/// service's prefixes: `path_prefix` or `path_prefixes`, not both; a canonical host that is
/// one of the service's (exact) hosts.
pub fn check_deploy(
    hosts: &[String],
    path_prefix: Option<&str>,
    traffic: &Traffic,
) -> Result<Vec<String>, String> {
    if path_prefix.is_some_and(|p| !p.is_empty()) && !traffic.path_prefixes.is_empty() {
        return Err("path_prefix and path_prefixes exclude each other: give one".into());
    }
    if let Some(c) = &traffic.canonical_host {
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(c.trim())) {
            return Err(format!(
                "canonical_host {c} is not one of the service's hosts ({})",
                if hosts.is_empty() {
                    "it has none: every host".to_string()
                } else {
                    hosts.join(", ")
                }
            ));
        }
    }
    let given = path_prefix
        .into_iter()
        .chain(traffic.path_prefixes.iter().map(String::as_str));
    Ok(normalize_prefixes(given))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhow_proxy_api::RateLimit;

    #[test]
    fn deploy_settings_are_checked_and_prefixes_normalized() {
        let hosts = ["a.test".to_string(), "www.a.test".to_string()];
        let several = Traffic {
            path_prefixes: vec!["/api/".into(), "/admin".into()],
            ..Default::default()
        };
        assert_eq!(
            check_deploy(&hosts, None, &several).unwrap(),
            ["/admin", "/api"]
        );
        assert_eq!(
            check_deploy(&hosts, Some("/x/"), &Traffic::default()).unwrap(),
            ["/x"]
        );
        assert_eq!(
            check_deploy(&hosts, Some("/"), &Traffic::default()).unwrap(),
            Vec::<String>::new()
        );
        assert!(check_deploy(&hosts, Some("/x"), &several)
            .unwrap_err()
            .contains("exclude each other"));
        let canonical = |c: &str| Traffic {
            canonical_host: Some(c.into()),
            ..Default::default()
        };
        assert!(check_deploy(&hosts, None, &canonical("A.test")).is_ok());
        assert!(check_deploy(&hosts, None, &canonical("b.test"))
            .unwrap_err()
            .contains("not one of the service's hosts"));
        assert!(check_deploy(&[], None, &canonical("b.test")).is_err());
    }

    #[test]
    fn canonical_redirects_keep_scheme_port_path_and_query() {
        let wire = Traffic {
            canonical_host: Some("Example.com".into()),
            ..Default::default()
        };
        let t = ServiceTraffic::new(&wire, None).unwrap();
        assert!(t.redirects("www.example.com"));
        assert!(!t.redirects("EXAMPLE.com:8080"));
        assert_eq!(
            t.canonical_location("www.example.com:8080", false, "/a?b=1"),
            "http://example.com:8080/a?b=1"
        );
        assert_eq!(
            t.canonical_location("www.example.com", true, "/"),
            "https://example.com/"
        );
        assert!(!ServiceTraffic::default().redirects("x"));
        let bad = Traffic {
            canonical_host: Some("*.example.com".into()),
            ..Default::default()
        };
        assert!(ServiceTraffic::new(&bad, None).is_err());
    }

    #[test]
    fn a_redeploy_with_the_same_limit_keeps_the_buckets() {
        let limit = RateLimit {
            requests: 5,
            per_ms: 1000,
            burst: 0,
            by: "ip".into(),
        };
        let wire = Traffic {
            rate_limit: Some(limit.clone()),
            ..Default::default()
        };
        let first = ServiceTraffic::new(&wire, None).unwrap();
        let same = ServiceTraffic::new(&wire, Some(&first)).unwrap();
        assert!(Arc::ptr_eq(
            first.limiter.as_ref().unwrap(),
            same.limiter.as_ref().unwrap()
        ));
        let other = Traffic {
            rate_limit: Some(RateLimit {
                requests: 6,
                ..limit
            }),
            ..Default::default()
        };
        let changed = ServiceTraffic::new(&other, Some(&first)).unwrap();
        assert!(!Arc::ptr_eq(
            first.limiter.as_ref().unwrap(),
            changed.limiter.as_ref().unwrap()
        ));
        let zero = Traffic {
            rate_limit: Some(RateLimit {
                requests: 0,
                per_ms: 1,
                burst: 0,
                by: "ip".into(),
            }),
            ..Default::default()
        };
        assert!(ServiceTraffic::new(&zero, None)
            .unwrap_err()
            .contains("rate_limit: requests"));
    }
}
