//! The proxy's state file: the routes, written atomically (see `atomic_file`) after every
//! change and read at start. A corrupt file is reported and set aside, never a reason not to
//! start.

use crate::canary::Canary;
use crate::limits::ServiceLimits;
use crate::router::{HealthSpec, Service, ServiceMode, Table};
use crate::traffic::ServiceTraffic;
use dhow_proxy_api::{Buffering, Traffic};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct State {
    pub services: Vec<SavedService>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedService {
    pub name: String,
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub strip_prefix: bool,
    #[serde(default)]
    pub health: HealthSpec,
    pub target: String,
    /// Every target, `target` first, when the service has several (replicas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `live` (default), `paused` or `stopped`.
    #[serde(default)]
    pub mode: SavedMode,
    /// The maintenance message of a stopped service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// PEM files of the service's certificate (read again at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    #[serde(default = "yes")]
    pub tls_redirect: bool,
    /// Certificates from ACME (kept in the state directory's acme/).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acme: bool,
    /// The service's own response timeout (none: the proxy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout_ms: Option<u64>,
    /// The service's body limits and buffering (none: the proxy's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffering: Option<Buffering>,
    /// Several path prefixes (then `path_prefix` is none), rate limit, error pages,
    /// canonical host.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// A canary rollout beside the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<SavedCanary>,
}

/// A service's canary as saved: everything but its counters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedCanary {
    pub targets: Vec<String>,
    /// The share in hundredths of a percent.
    pub basis: u32,
    pub version: String,
    #[serde(default)]
    pub stable_version: String,
    pub cookie: String,
    pub header: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

impl SavedCanary {
    fn of(c: &Canary) -> SavedCanary {
        SavedCanary {
            targets: c.addrs(),
            basis: c.basis,
            version: c.version.clone(),
            stable_version: c.stable_version.clone(),
            cookie: c.cookie.clone(),
            header: c.header.clone(),
            allow: c.allow.clone(),
        }
    }

    /// The canary, its targets not ready until checked (as the service's).
    fn canary(&self) -> Canary {
        let (target, replicas) = Service::targets_for(&self.targets, false);
        Canary {
            version: self.version.clone(),
            stable_version: self.stable_version.clone(),
            basis: self.basis.min(crate::canary::BUCKETS),
            cookie: self.cookie.clone(),
            header: self.header.clone(),
            allow: self.allow.clone(),
            target,
            replicas,
            stats: crate::stats::Stats::new(),
            stable_stats: crate::stats::Stats::new(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SavedMode {
    #[default]
    Live,
    Paused,
    Stopped,
}

impl SavedService {
    fn mode(&self) -> ServiceMode {
        match self.mode {
            SavedMode::Live => ServiceMode::Live,
            SavedMode::Paused => ServiceMode::Paused,
            SavedMode::Stopped => ServiceMode::Stopped {
                message: self.message.clone(),
            },
        }
    }
}

impl State {
    pub fn of(table: &Table) -> State {
        State {
            services: table
                .services
                .iter()
                .map(|s| SavedService {
                    name: s.name.clone(),
                    hosts: s.hosts.clone(),
                    path_prefix: match &s.path_prefixes[..] {
                        [one] => Some(one.clone()),
                        _ => None,
                    },
                    strip_prefix: s.strip_prefix,
                    health: s.health.clone(),
                    target: s.target.addr.clone(),
                    targets: match &s.replicas {
                        Some(r) => r.all.iter().map(|t| t.addr.clone()).collect(),
                        None => Vec::new(),
                    },
                    mode: match s.mode {
                        ServiceMode::Live => SavedMode::Live,
                        ServiceMode::Paused => SavedMode::Paused,
                        ServiceMode::Stopped { .. } => SavedMode::Stopped,
                    },
                    message: match &s.mode {
                        ServiceMode::Stopped { message } => message.clone(),
                        _ => None,
                    },
                    tls_cert: s.tls.as_ref().map(|t| t.cert_path.clone()),
                    tls_key: s.tls.as_ref().map(|t| t.key_path.clone()),
                    tls_redirect: s.tls_redirect,
                    acme: s.acme,
                    response_timeout_ms: s.limits.response_timeout_ms,
                    buffering: s.limits.buffering.clone(),
                    traffic: Traffic {
                        path_prefixes: match s.path_prefixes.len() {
                            0 | 1 => Vec::new(),
                            _ => s.path_prefixes.clone(),
                        },
                        ..s.traffic.wire.clone()
                    },
                    canary: s.canary.as_deref().map(SavedCanary::of),
                })
                .collect(),
        }
    }

    /// The table this state describes; targets start not ready (to be health-checked).
    /// A certificate that cannot be read any more is reported and its service served
    /// without TLS.
    pub fn table(&self) -> (Table, Vec<String>) {
        let mut problems = Vec::new();
        let table = Table {
            services: self
                .services
                .iter()
                .map(|s| {
                    let addrs = match s.targets.is_empty() {
                        true => vec![s.target.clone()],
                        false => s.targets.clone(),
                    };
                    let (target, replicas) = Service::targets_for(&addrs, false);
                    Service {
                    name: s.name.clone(),
                    hosts: s.hosts.clone(),
                    path_prefixes: crate::router::normalize_prefixes(
                        s.path_prefix
                            .iter()
                            .chain(&s.traffic.path_prefixes)
                            .map(String::as_str),
                    ),
                    strip_prefix: s.strip_prefix,
                    health: s.health.clone(),
                    target,
                    replicas,
                    mode: s.mode(),
                    stats: crate::stats::Stats::new(),
                    tls: match (&s.tls_cert, &s.tls_key) {
                        (Some(c), Some(k)) => match crate::tls::cert::load(c, k) {
                            Ok(t) => Some(t),
                            Err(e) => {
                                problems.push(format!(
                                    "service {}: certificate not loaded, serving it without TLS: {e}",
                                    s.name
                                ));
                                None
                            }
                        },
                        _ => None,
                    },
                    tls_redirect: s.tls_redirect,
                    acme: s.acme,
                    limits: ServiceLimits {
                        response_timeout_ms: s.response_timeout_ms,
                        buffering: s.buffering.clone(),
                    },
                    traffic: match ServiceTraffic::new(&s.traffic, None) {
                        Ok(t) => Arc::new(t),
                        Err(e) => {
                            problems.push(format!(
                                "service {}: its traffic settings are not applied: {e}",
                                s.name
                            ));
                            Arc::default()
                        }
                    },
                    canary: s.canary.as_ref().map(|c| Arc::new(c.canary())),
                }
                })
                .collect(),
        };
        (table, problems)
    }
}

/// Write the state atomically.
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    crate::atomic_file::write(path, &bytes, 0o644)
}

/// Read the state. Missing: empty. Unreadable or corrupt: empty, the file renamed aside and
/// the problem returned for the log.
pub fn load(path: &Path) -> (State, Option<String>) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (State::default(), None),
        Err(e) => {
            return (
                State::default(),
                Some(format!(
                    "cannot read state file {}: {e}; starting with no routes",
                    path.display()
                )),
            )
        }
    };
    match serde_json::from_slice::<State>(&bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
            let _ = std::fs::rename(path, &aside);
            (
                State::default(),
                Some(format!(
                    "state file {} is corrupt ({e}); moved it to {} and started with no routes: deploy again to restore them",
                    path.display(),
                    aside.display()
                )),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_targets_are_kept_and_restored_not_ready() {
        let json = r#"{"services":[{"name":"w","hosts":[],"path_prefix":null,
            "target":"w-1:80","targets":["w-1:80","w-1-r2:80","w-1-r3:80"]}]}"#;
        let saved: State = serde_json::from_str(json).unwrap();
        let (table, _) = saved.table();
        let s = &table.services[0];
        let addrs: Vec<&str> = s.targets().iter().map(|t| t.addr.as_str()).collect();
        assert_eq!(addrs, ["w-1:80", "w-1-r2:80", "w-1-r3:80"]);
        assert!(!s.is_ready() && s.targets().iter().all(|t| !t.is_ready()));
        let again = serde_json::to_value(State::of(&table)).unwrap();
        assert_eq!(again["services"][0]["targets"][2], "w-1-r3:80");
    }

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let s = State {
            services: vec![SavedService {
                name: "a".into(),
                hosts: vec!["a.test".into()],
                path_prefix: None,
                strip_prefix: false,
                health: HealthSpec::default(),
                target: "a-1:80".into(),
                targets: Vec::new(),
                mode: SavedMode::Stopped,
                message: Some("back soon".into()),
                tls_cert: None,
                tls_key: None,
                tls_redirect: true,
                acme: true,
                response_timeout_ms: Some(1500),
                buffering: Some(Buffering {
                    requests: true,
                    max_request_body: Some(10),
                    ..Buffering::default()
                }),
                traffic: Traffic {
                    path_prefixes: vec!["/api".into(), "/admin/".into()],
                    rate_limit: Some(dhow_proxy_api::RateLimit {
                        requests: 5,
                        per_ms: 1000,
                        burst: 0,
                        by: "header:X-Key".into(),
                    }),
                    error_pages: [("503".to_string(), "<p>down</p>".to_string())].into(),
                    canonical_host: Some("a.test".into()),
                },
                canary: Some(SavedCanary {
                    targets: vec!["a-2:80".into()],
                    basis: 2000,
                    version: "2".into(),
                    stable_version: "1".into(),
                    cookie: "dhow_canary".into(),
                    header: "x-dhow-canary".into(),
                    allow: vec!["tester".into()],
                }),
            }],
        };
        save(&p, &s).unwrap();
        let (back, problem) = load(&p);
        assert!(problem.is_none());
        assert_eq!(back.services[0].target, "a-1:80");
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert!(file["services"][0].get("targets").is_none(), "{file}");
        let (table, problems) = back.table();
        assert!(problems.is_empty(), "{problems:?}");
        let restored = &table.services[0];
        assert_eq!(restored.path_prefixes, ["/admin", "/api"]);
        assert!(restored.traffic.limiter.is_some());
        assert!(restored.traffic.pages.for_status(503).is_some());
        assert_eq!(restored.traffic.canonical.as_deref(), Some("a.test"));
        let canary = restored.canary.as_ref().unwrap();
        assert_eq!(
            (canary.basis, canary.addrs()),
            (2000, vec!["a-2:80".to_string()])
        );
        assert!(
            !canary.is_ready(),
            "a restored canary waits for its health check"
        );
        // Saved again, it is the same state.
        let again = serde_json::to_value(State::of(&table)).unwrap();
        assert_eq!(again["services"][0]["path_prefixes"][1], "/api");
        assert_eq!(again["services"][0]["rate_limit"]["by"], "header:X-Key");
        assert_eq!(again["services"][0]["canary"]["allow"][0], "tester");
        let limits = &table.services[0].limits;
        assert_eq!(limits.response_timeout_ms, Some(1500));
        assert_eq!(
            limits.buffering.as_ref().unwrap().max_request_body,
            Some(10)
        );
        assert_eq!(
            back.services[0].mode(),
            ServiceMode::Stopped {
                message: Some("back soon".into())
            }
        );
        std::fs::write(&p, b"{\"services\": [{\"name\": \"a\"").unwrap();
        let (empty, problem) = load(&p);
        assert!(empty.services.is_empty());
        assert!(problem.unwrap().contains("corrupt"));
        assert!(!p.exists(), "the corrupt file is moved aside");
    }
}
