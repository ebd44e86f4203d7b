//! The routing table: services with their hosts, path prefixes and current target. A table is
//! immutable once built; changes build a new one that is swapped in atomically, so the request
//! path only ever loads a pointer.

use crate::acme::store::Certs;
use crate::stats::Stats;
use crate::tls::cert::TlsCert;
use crate::upstream::Upstream;
use rustls::sign::CertifiedKey;
use std::collections::BTreeSet;
use std::sync::Arc;

pub use crate::traffic::normalize_prefixes;
/// Health check settings of a service (part of the control wire, so defined there).
pub use dhow_proxy_api::HealthSpec;

/// What a service does with requests: forward them, hold them until resumed, or answer with
/// a maintenance page (while its health path still answers 200 for outer load balancers).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ServiceMode {
    #[default]
    Live,
    Paused,
    Stopped {
        message: Option<String>,
    },
}

impl ServiceMode {
    pub fn name(&self) -> &'static str {
        match self {
            ServiceMode::Live => "live",
            ServiceMode::Paused => "paused",
            ServiceMode::Stopped { .. } => "stopped",
        }
    }
}

/// One routed service.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Exact names or `*.example.com`; empty = every host (catch-all).
    pub hosts: Vec<String>,
    /// Normalized (no trailing `/`, never empty or `/`); none = every path.
    pub path_prefixes: Vec<String>,
    pub strip_prefix: bool,
    pub health: HealthSpec,
    /// The (first) target; with several, `replicas` holds them all.
    pub target: Arc<Upstream>,
    /// Two or more targets balanced over (`replicas.rs`); none for one target.
    pub replicas: Option<Arc<crate::replicas::Replicas>>,
    pub mode: ServiceMode,
    /// Request counters, carried over when the service is replaced.
    pub stats: Arc<Stats>,
    /// The certificate for this service's hosts (TLS on the HTTPS port).
    pub tls: Option<Arc<TlsCert>>,
    /// With a certificate: answer plain-HTTP requests with a redirect to HTTPS.
    pub tls_redirect: bool,
    /// Certificates for the hosts come from ACME (see `acme`).
    pub acme: bool,
    /// Its own response timeout, body limits and buffering (none: the proxy's).
    pub limits: crate::limits::ServiceLimits,
    /// Rate limit, error pages, canonical host.
    pub traffic: Arc<crate::traffic::ServiceTraffic>,
    /// A canary rollout beside the targets (`canary.rs`).
    pub canary: Option<Arc<crate::canary::Canary>>,
}

impl Service {
    /// The target for the next request: the only one, or the balancer's choice.
    #[inline]
    pub fn pick(&self) -> &Arc<Upstream> {
        match &self.replicas {
            None => &self.target,
            Some(r) => r.pick(),
        }
    }

    /// Every target of the service (the first is `target`).
    pub fn targets(&self) -> &[Arc<Upstream>] {
        match &self.replicas {
            None => std::slice::from_ref(&self.target),
            Some(r) => &r.all,
        }
    }

    /// Some target may take requests (restored ones wait for their health check).
    #[inline]
    pub fn is_ready(&self) -> bool {
        match &self.replicas {
            None => self.target.is_ready(),
            Some(r) => r.any_ready(),
        }
    }

    /// The service's targets for `addrs` (one or more), as a service holds them.
    pub fn targets_for(
        addrs: &[String],
        ready: bool,
    ) -> (Arc<Upstream>, Option<Arc<crate::replicas::Replicas>>) {
        let all: Vec<Arc<Upstream>> = addrs
            .iter()
            .map(|a| Upstream::new(a.clone(), ready))
            .collect();
        let first = all
            .first()
            .cloned()
            .unwrap_or_else(|| Upstream::new(String::new(), false));
        let replicas = (all.len() > 1).then(|| Arc::new(crate::replicas::Replicas::new(all)));
        (first, replicas)
    }

    /// How well `host` matches: 2 exact, 1 wildcard, 0 catch-all; None = not this service.
    pub fn host_rank(&self, host: &str) -> Option<u8> {
        if self.hosts.is_empty() {
            return Some(0);
        }
        let mut best = None;
        for h in &self.hosts {
            if h.eq_ignore_ascii_case(host) {
                return Some(2);
            }
            if let Some(suffix) = h.strip_prefix("*.") {
                let s = host.len().checked_sub(suffix.len() + 1);
                if let Some(i) = s {
                    if host[i + 1..].eq_ignore_ascii_case(suffix) && host.as_bytes()[i] == b'.' {
                        best = Some(1);
                    }
                }
            }
        }
        best
    }

    /// The longest of the service's prefixes `path` is under (`Some(0)`: it has none).
    fn prefix_len(&self, path: &str) -> Option<usize> {
        if self.path_prefixes.is_empty() {
            return Some(0);
        }
        self.matched_prefix(path).map(str::len)
    }

    /// The longest of the service's prefixes `path` (or a request target) is under.
    #[inline]
    pub fn matched_prefix(&self, path: &str) -> Option<&str> {
        self.path_prefixes
            .iter()
            .filter(|p| {
                path.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
            .max_by_key(|p| p.len())
            .map(String::as_str)
    }
}

/// The immutable routing table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub services: Vec<Service>,
}

impl Table {
    /// The service for a request: the most specific host match, then the longest prefix.
    /// The host by `policy::host` (any case, any port).
    pub fn route(&self, host: &str, path: &str) -> Option<&Service> {
        let host = crate::policy::host::name(host);
        self.services
            .iter()
            .filter_map(|s| Some(((s.host_rank(host)?, s.prefix_len(path)?), s)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, s)| s)
    }

    /// The certificate for a TLS handshake naming `name` (lower case): the best-matching
    /// service's files, or its ACME certificate from `acme`.
    pub fn certificate_for(&self, name: &str, acme: &Certs) -> Option<Arc<CertifiedKey>> {
        self.services
            .iter()
            .filter_map(|s| {
                let rank = s.host_rank(name)?;
                match &s.tls {
                    Some(c) => Some((rank, c.key.clone())),
                    None if s.acme => Some((rank, acme.get(name)?.key)),
                    None => None,
                }
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, key)| key)
    }

    /// The host names that want an ACME certificate.
    pub fn acme_hosts(&self) -> BTreeSet<String> {
        self.services
            .iter()
            .filter(|s| s.acme)
            .flat_map(|s| s.hosts.iter().cloned())
            .collect()
    }

    /// A copy with `service` added or replacing the one of the same name.
    pub fn with(&self, service: Service) -> Table {
        let mut services: Vec<Service> = self
            .services
            .iter()
            .filter(|s| s.name != service.name)
            .cloned()
            .collect();
        services.push(service);
        Table { services }
    }

    /// A copy with the named service in `mode`; None when there is no such service.
    pub fn with_mode(&self, name: &str, mode: ServiceMode) -> Option<Table> {
        let mut service = self.services.iter().find(|s| s.name == name)?.clone();
        service.mode = mode;
        Some(self.with(service))
    }

    /// The named service.
    pub fn get(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A copy without the named service.
    pub fn without(&self, name: &str) -> Table {
        Table {
            services: self
                .services
                .iter()
                .filter(|s| s.name != name)
                .cloned()
                .collect(),
        }
    }

    /// Another service already claiming one of these host + prefix routes (`prefixes`
    /// normalized; none = every path).
    pub fn conflict(&self, name: &str, hosts: &[String], prefixes: &[String]) -> Option<String> {
        let every = [String::new()];
        let mine = if prefixes.is_empty() {
            &every[..]
        } else {
            prefixes
        };
        for s in self.services.iter().filter(|s| s.name != name) {
            let theirs = if s.path_prefixes.is_empty() {
                &every[..]
            } else {
                &s.path_prefixes[..]
            };
            let Some(prefix) = mine.iter().find(|p| theirs.contains(p)) else {
                continue;
            };
            let clash = if hosts.is_empty() || s.hosts.is_empty() {
                hosts.is_empty() && s.hosts.is_empty()
            } else {
                hosts
                    .iter()
                    .any(|h| s.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)))
            };
            if clash {
                let what = if hosts.is_empty() {
                    "every host (no host given)".to_string()
                } else {
                    hosts.join(", ")
                };
                let under = if prefix.is_empty() {
                    String::new()
                } else {
                    format!(" under {prefix}")
                };
                return Some(format!(
                    "service {} already routes {what}{under}; give this service other hosts or another path prefix, or remove {}",
                    s.name, s.name
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, hosts: &[&str], prefix: Option<&str>) -> Service {
        Service {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path_prefixes: normalize_prefixes(prefix),
            strip_prefix: false,
            health: HealthSpec::default(),
            target: Upstream::new(format!("{name}:80"), true),
            replicas: None,
            mode: ServiceMode::Live,
            stats: Stats::new(),
            tls: None,
            tls_redirect: false,
            acme: false,
            limits: Default::default(),
            traffic: Default::default(),
            canary: None,
        }
    }

    #[test]
    fn most_specific_route_wins() {
        let t = Table::default()
            .with(svc("all", &[], None))
            .with(svc("wild", &["*.example.com"], None))
            .with(svc("exact", &["app.example.com"], None))
            .with(svc("api", &["app.example.com"], Some("/api")));
        assert_eq!(t.route("app.example.com", "/").unwrap().name, "exact");
        assert_eq!(
            t.route("app.example.com:8080", "/api/x").unwrap().name,
            "api"
        );
        assert_eq!(t.route("app.example.com", "/apix").unwrap().name, "exact");
        assert_eq!(t.route("b.example.com", "/").unwrap().name, "wild");
        assert_eq!(t.route("example.com", "/").unwrap().name, "all");
        assert!(Table::default()
            .with(svc("x", &["x.test"], None))
            .route("y.test", "/")
            .is_none());
    }

    #[test]
    fn conflicts_are_found() {
        let t = Table::default()
            .with(svc("a", &["a.test"], None))
            .with(svc("all", &[], None));
        assert!(t.conflict("b", &["a.test".into()], &[]).is_some());
        assert!(t
            .conflict("b", &["a.test".into()], &["/api".into()])
            .is_none());
        assert!(
            t.conflict("a", &["a.test".into()], &[]).is_none(),
            "a service may redeploy itself"
        );
        assert!(t.conflict("c", &[], &[]).is_some());
        let t = t.with(svc("api", &["a.test"], Some("/api/")));
        let both = ["/admin".to_string(), "/api".to_string()];
        let msg = t.conflict("b", &["a.test".into()], &both).unwrap();
        assert!(
            msg.contains("service api") && msg.contains("under /api"),
            "{msg}"
        );
        assert!(t.conflict("b", &["a.test".into()], &both[..1]).is_none());
    }

    #[test]
    fn several_prefixes_route_and_the_longest_is_the_one_matched() {
        let mut multi = svc("multi", &["a.test"], None);
        multi.path_prefixes = normalize_prefixes(["/api/", "/admin", "/", "/api/v2"]);
        assert_eq!(multi.path_prefixes, ["/admin", "/api", "/api/v2"]);
        let t = Table::default()
            .with(multi)
            .with(svc("site", &["a.test"], None));
        let to = |path| t.route("a.test", path).unwrap().name.clone();
        assert_eq!(to("/api"), "multi");
        assert_eq!(to("/admin/users?x"), "multi");
        assert_eq!(to("/adminx"), "site");
        assert_eq!(to("/"), "site");
        let multi = t.get("multi").unwrap();
        assert_eq!(multi.matched_prefix("/api/v2/x?q"), Some("/api/v2"));
        assert_eq!(multi.matched_prefix("/api?q"), Some("/api"));
        assert_eq!(multi.matched_prefix("/other"), None);
    }
}
