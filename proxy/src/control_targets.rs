//! The control plane's view of a service's targets: `list` (each target of a service with
//! several, its health and in-flight count), the health checks of restored targets, the
//! active health watch of several targets.

use crate::control::Control;
use crate::health;
use crate::router::{Service, ServiceMode};
use dhow_proxy_api::{ServiceEntry, ServiceList, TargetEntry};
use std::sync::Arc;

impl Control {
    pub fn list(&self) -> ServiceList {
        let table = self.proxy.table.load_full();
        let services = table.services.iter().map(|s| ServiceEntry {
            name: s.name.clone(),
            hosts: s.hosts.clone(),
            path_prefix: s.path_prefixes.first().cloned(),
            path_prefixes: match s.path_prefixes.len() {
                0 | 1 => Vec::new(),
                _ => s.path_prefixes.clone(),
            },
            target: s.target.addr.clone(),
            targets: match &s.replicas {
                Some(r) => r
                    .all
                    .iter()
                    .map(|t| TargetEntry {
                        healthy: t.is_up(),
                        inflight: t.inflight() as u64,
                        target: t.addr.clone(),
                    })
                    .collect(),
                None => Vec::new(),
            },
            canary: s.canary.as_ref().map(|c| c.entry()),
            healthy: s.target.is_ready(),
            inflight: s.targets().iter().map(|t| t.inflight() as u64).sum(),
            mode: s.mode.name().to_string(),
            tls: s.tls.as_ref().map(|t| t.cert_path.clone()),
            acme: s.acme.then(|| {
                s.hosts
                    .iter()
                    .map(|h| (h.clone(), self.proxy.acme.describe(h)))
                    .collect()
            }),
            message: match &s.mode {
                ServiceMode::Stopped { message } => message.clone(),
                _ => None,
            },
        });
        ServiceList {
            services: services.collect(),
        }
    }

    /// Health-check restored targets in the background; they get traffic once healthy.
    /// A service with several targets gets its active health watch, which does this too.
    pub fn check_restored(self: &Arc<Self>) {
        for s in self.proxy.table.load().services.iter() {
            self.watch_canary(s);
            if s.replicas.is_some() {
                self.watch(s);
                continue;
            }
            let client = self.proxy.client.clone();
            tokio::spawn(health::until_ready(
                client,
                s.target.clone(),
                s.health.clone(),
            ));
        }
    }

    /// Start the active health watch of a service with several targets (it ends when they
    /// leave the service).
    pub fn watch(&self, s: &Service) {
        if let Some(r) = &s.replicas {
            let weak = Arc::downgrade(r);
            tokio::spawn(health::watch(
                self.proxy.client.clone(),
                weak,
                s.health.clone(),
            ));
        }
    }
}
