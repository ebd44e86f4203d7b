//! The app's selected hosts and roles with no version attached: what commands that look at or
//! operate what is already deployed (versions, logs, lock, audit, prune, proxy, rollback's
//! choice) act on. A [`super::plan::Plan`] is the same selection for one version.

use super::plan::Route;
use std::time::Duration;

/// One role on one host.
#[derive(Debug, Clone)]
pub struct RoleTarget {
    pub role: String,
    /// `<service>-<role>[-<dest>]`: container name prefix and proxy service name.
    pub prefix: String,
    /// `None` for roles that are not proxied (workers).
    pub route: Option<Route>,
}

/// The roles of one host.
#[derive(Debug, Clone)]
pub struct HostTargets {
    pub host: String,
    pub roles: Vec<RoleTarget>,
}

/// The selected hosts and roles of the app.
#[derive(Debug, Clone)]
pub struct Targets {
    pub service: String,
    /// Image repository without tag (`dhow/demo`, `registry:5000/team/app`).
    pub image: String,
    pub destination: Option<String>,
    pub lock_key: String,
    pub primary_host: String,
    pub hosts: Vec<HostTargets>,
    /// Stopped containers kept per role.
    pub retain: usize,
    pub stop_grace: Duration,
}

impl Targets {
    /// The hosts in config order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.host.clone()).collect()
    }

    /// Every role, sorted, once.
    pub fn role_names(&self) -> Vec<String> {
        let mut roles: Vec<String> = self
            .hosts
            .iter()
            .flat_map(|h| h.roles.iter().map(|r| r.role.clone()))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}
