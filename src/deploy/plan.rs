//! The deploy plan: plain data computed from the config and the command line, saying per host
//! and role what will run. `dhow deploy --dry-run` prints it; nothing in here touches a host.

use super::container::ContainerSpec;
use crate::proxy::control::{DeployRequest, Health};
use std::fmt::Write as _;
use std::time::Duration;

/// How the app image reaches the hosts.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Push to this registry; hosts pull from it.
    Registry { server: String, username: String },
    /// Stream the image from the local engine to each host over its SSH connection.
    Ssh,
}

/// A role's route through the proxy.
#[derive(Debug, Clone)]
pub struct Route {
    pub app_port: u16,
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    pub strip_prefix: bool,
    pub health: Health,
    pub tls: Option<super::settings::TlsFiles>,
    pub acme: bool,
}

/// One role on one host.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub role: String,
    pub primary: bool,
    /// `<service>-<role>[-<dest>]`: container name prefix and proxy service name.
    pub prefix: String,
    pub container: ContainerSpec,
    /// `None` for roles that are not proxied (workers).
    pub route: Option<Route>,
}

/// Everything for one host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: String,
    pub roles: Vec<RolePlan>,
}

impl HostPlan {
    pub fn needs_proxy(&self) -> bool {
        self.roles.iter().any(|r| r.route.is_some())
    }
}

/// The whole deploy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub service: String,
    pub destination: Option<String>,
    pub version: String,
    /// Image reference with tag: `<image>:<version>`.
    pub image_ref: String,
    pub lock_key: String,
    pub primary_host: String,
    pub hosts: Vec<HostPlan>,
    pub boot_limit: usize,
    pub boot_wait: Duration,
    pub retain: usize,
    pub delivery: Delivery,
    pub deploy_timeout: Duration,
    pub drain_timeout: Duration,
    pub stop_grace: Duration,
}

impl Plan {
    /// The proxy deploy request for a role's new container.
    pub fn proxy_request(&self, role: &RolePlan, route: &Route) -> DeployRequest {
        DeployRequest {
            target: format!("{}:{}", role.container.name, route.app_port),
            hosts: route.hosts.clone(),
            path_prefix: route.path_prefix.clone(),
            strip_prefix: route.strip_prefix,
            health: route.health.clone(),
            deploy_timeout_ms: self.deploy_timeout.as_millis() as u64,
            drain_timeout_ms: self.drain_timeout.as_millis() as u64,
            tls_cert: None,
            tls_key: None,
            tls_redirect: None,
            acme: route.acme,
        }
    }

    /// The hosts in plan order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.host.clone()).collect()
    }

    /// Host groups in boot order, each at most `boot_limit` hosts.
    pub fn groups(&self) -> Vec<Vec<&HostPlan>> {
        let limit = self.boot_limit.max(1);
        self.hosts
            .iter()
            .collect::<Vec<_>>()
            .chunks(limit)
            .map(|c| c.to_vec())
            .collect()
    }

    /// Human description for `--dry-run`. Secret values never appear: only their names.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Deploy {} version {}{} ({})",
            self.service,
            self.version,
            self.destination
                .as_deref()
                .map(|d| format!(" to {d}"))
                .unwrap_or_default(),
            self.image_ref
        );
        match &self.delivery {
            Delivery::Registry { server, username } => {
                let _ = writeln!(
                    s,
                    "  build locally, push to {server} as {username}; hosts pull"
                );
            }
            Delivery::Ssh => {
                let _ = writeln!(s, "  build locally, stream the image to each host over SSH");
            }
        }
        let _ = writeln!(
            s,
            "  lock {} on {}; boot {}{}",
            self.lock_key,
            self.primary_host,
            if self.boot_limit >= self.hosts.len() {
                "all hosts at once".to_string()
            } else {
                format!("{} host(s) at a time", self.boot_limit)
            },
            if self.boot_wait.is_zero() {
                String::new()
            } else {
                format!(", waiting {}s between groups", self.boot_wait.as_secs())
            }
        );
        for host in &self.hosts {
            let _ = writeln!(s, "{}:", host.host);
            if host.needs_proxy() {
                let _ = writeln!(s, "  ensure network dhow and the dhow-proxy container");
            }
            for role in &host.roles {
                let c = &role.container;
                let _ = writeln!(
                    s,
                    "  {}{}: start {} from {}",
                    role.role,
                    if role.primary { " (primary)" } else { "" },
                    c.name,
                    c.image
                );
                if let Some(cmd) = &c.cmd {
                    let _ = writeln!(s, "    cmd: {}", cmd.join(" "));
                }
                let mut env: Vec<String> = c.env.iter().map(|(k, _)| k.clone()).collect();
                env.extend(c.secret_env.iter().map(|(k, _)| format!("{k} (secret)")));
                if !env.is_empty() {
                    let _ = writeln!(s, "    env: {}", env.join(", "));
                }
                match &role.route {
                    Some(r) => {
                        let _ = writeln!(
                            s,
                            "    proxy: health-check {}:{}{} then switch {} traffic{}; drain up to {}s",
                            c.name,
                            r.app_port,
                            r.health.path,
                            if r.hosts.is_empty() {
                                "all".to_string()
                            } else {
                                r.hosts.join(", ")
                            },
                            r.path_prefix
                                .as_deref()
                                .map(|p| format!(" under {p}"))
                                .unwrap_or_default(),
                            self.drain_timeout.as_secs()
                        );
                        if r.tls.is_some() {
                            let _ = writeln!(
                                s,
                                "    https: the certificate files from proxy.ssl_certificate"
                            );
                        } else if r.acme {
                            let _ = writeln!(
                                s,
                                "    https: the proxy obtains and renews certificates for {} (ACME)",
                                r.hosts.join(", ")
                            );
                        }
                    }
                    None => {
                        let _ = writeln!(s, "    not proxied: wait until it runs steadily");
                    }
                }
                let _ = writeln!(
                    s,
                    "    then stop the previous {} container, keep {} old ones",
                    role.prefix, self.retain
                );
            }
        }
        s
    }
}
