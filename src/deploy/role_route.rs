//! A role's route through the proxy: `[proxy]`'s, with the role's own hosts, prefix or
//! stripping where its `proxy = { ... }` table gives them.

use super::plan::Route;
use super::settings::{RoleSettings, Settings};
use crate::proxy::control::Health;

/// A proxied role's own route keys (its `proxy = { ... }` table), `None` where `[proxy]`'s
/// apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteOverride {
    pub hosts: Option<Vec<String>>,
    pub path_prefix: Option<String>,
    pub strip_prefix: Option<bool>,
}

impl Settings {
    /// A role's route through the proxy (`None`: not proxied): `[proxy]`'s, with the role's
    /// own hosts, prefix or stripping where it gives them.
    pub fn route(&self, role: &RoleSettings) -> Option<Route> {
        let p = &self.proxy;
        role.proxied
            .then(|| Route {
                app_port: p.app_port,
                hosts: p.hosts.clone(),
                path_prefix: p.path_prefix.clone(),
                strip_prefix: p.strip_prefix,
                health: Health {
                    path: p.health_path.clone(),
                    interval_ms: p.health_interval.as_millis() as u64,
                    timeout_ms: p.health_timeout.as_millis() as u64,
                },
                tls: p.tls.clone(),
                acme: p.acme,
                response_timeout: p.response_timeout,
                buffering: p.buffering.clone(),
                traffic: p.traffic.clone(),
            })
            .map(|mut r| {
                if let Some(o) = &role.route {
                    if let Some(hosts) = &o.hosts {
                        r.hosts = hosts.clone();
                        // [proxy]'s canonical host is one of [proxy]'s hosts, not of these.
                        r.traffic.canonical_host = None;
                    }
                    if o.path_prefix.is_some() {
                        r.path_prefix = o.path_prefix.clone();
                        r.traffic.path_prefixes.clear();
                    }
                    if let Some(strip) = o.strip_prefix {
                        r.strip_prefix = strip;
                    }
                }
                r
            })
    }
}
