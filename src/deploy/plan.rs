//! The deploy plan: plain data computed from the config and the command line, saying what
//! moves (deploy, redeploy, rollback), how the image reaches the hosts, and per host and role
//! what will run. It is the one value both `dhow deploy --dry-run` (see `describe.rs`) and the
//! executor (see `execute.rs`) work from, through the typed steps of `steps.rs`. Nothing in
//! here touches a host.

use super::container::ContainerSpec;
use super::settings::{RegistrySettings, TlsFiles};
use crate::proxy::control::{Buffering, DeployRequest, Health};
use crate::proxy::on_host::BootOptions;
use std::time::Duration;

/// What a plan moves traffic to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// A new version: network and proxy ensured on every host, the image delivered, then the
    /// health-gated switch.
    Deploy,
    /// A version again (`dhow redeploy`, `dhow app boot`): the image delivered and the switch,
    /// without ensuring network and proxy.
    Redeploy,
    /// Back to a version whose stopped containers the hosts kept: nothing is built, delivered
    /// or written; the kept containers start and take over.
    Rollback,
    /// `dhow rollout finish`: the canary's running containers take all traffic (proxied
    /// roles), the other roles start the version (its image is on the hosts already).
    Finish,
}

impl Movement {
    /// The word for the lock, the audit log and messages: `deploy`, `redeploy`, `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::Deploy => "deploy",
            Movement::Redeploy => "redeploy",
            Movement::Rollback => "rollback",
            Movement::Finish => "rollout finish",
        }
    }
}

/// How the app image reaches the hosts.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Every host pulls it from this registry (the build pushed it there, or with
    /// `--skip-push` it is there already).
    Registry(RegistrySettings),
    /// Only the layers each host lacks: its engine pulls them from dhow's read-only registry
    /// endpoint through its SSH connection (the whole image streamed when it cannot).
    Layers,
    /// Streamed whole from the local engine to each host over its SSH connection (not sent
    /// again to a host that has it): `delivery = "stream"`.
    Ssh,
    /// `--skip-push` without a registry: it must be on every host already; checked, not sent.
    OnHosts,
    /// Nothing reaches the hosts (rollback: they start the containers they kept).
    Nothing,
}

/// `dhow deploy --canary`: the share of clients, and how each stays on one version (none:
/// the proxy's defaults, `dhow_canary` and `X-Dhow-Canary`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Canary {
    pub percent: f64,
    pub cookie: Option<String>,
    pub header: Option<String>,
    pub allow: Vec<String>,
}

/// The bake window: after the switch the old containers keep running, unrouted, while each
/// host's proxy judges the new ones (`window` zero: none).
#[derive(Debug, Clone, PartialEq)]
pub struct Bake {
    pub window: Duration,
    pub max_error_rate: f64,
    pub max_p99: Option<Duration>,
    pub min_requests: u64,
}

impl Default for Bake {
    fn default() -> Bake {
        Bake {
            window: Duration::ZERO,
            max_error_rate: 0.01,
            max_p99: None,
            min_requests: dhow_proxy_api::DEFAULT_BAKE_MIN_REQUESTS,
        }
    }
}

impl Bake {
    /// What the proxy is asked to judge.
    pub fn spec(&self) -> dhow_proxy_api::BakeSpec {
        dhow_proxy_api::BakeSpec {
            window_ms: self.window.as_millis() as u64,
            max_error_rate: self.max_error_rate,
            max_p99_ms: self.max_p99.map(|d| d.as_millis() as u64),
            min_requests: self.min_requests,
        }
    }
}

/// A role's route through the proxy.
#[derive(Debug, Clone)]
pub struct Route {
    pub app_port: u16,
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    pub strip_prefix: bool,
    pub health: Health,
    pub tls: Option<TlsFiles>,
    pub acme: bool,
    /// The app's own response timeout (none: the proxy's).
    pub response_timeout: Option<Duration>,
    /// Body limits and buffering (none: the proxy's defaults).
    pub buffering: Option<Buffering>,
    /// Several path prefixes, rate limit, error pages, canonical host.
    pub traffic: crate::proxy::control::Traffic,
}

/// One role on one host.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub role: String,
    pub primary: bool,
    /// `<service>-<role>[-<dest>]`: container name prefix and proxy service name.
    pub prefix: String,
    /// The container of the plan's version (new, or the one kept for a rollback).
    pub container: ContainerSpec,
    /// `None` for roles that are not proxied (workers).
    pub route: Option<Route>,
    /// The host's tags in this role (`servers`), in the order written.
    pub tags: Vec<String>,
    /// Variables of the container's env whose value a tag's `env.tags` set: variable → tag.
    pub env_from_tags: std::collections::BTreeMap<String, String>,
    /// Containers of the version on this host (`replicas`): `container`, then the same
    /// named `-r2`, `-r3`...
    pub replicas: usize,
}

/// The label saying which of a role's replicas a container is (`1`, `2`, ...), set when the
/// role has several.
pub const LABEL_REPLICA: &str = "dhow.replica";

/// Replica `i` (1-based) of the container named `base`: `base` itself, then `base-r2`...
pub fn replica_name(base: &str, i: usize) -> String {
    if i <= 1 {
        base.to_string()
    } else {
        format!("{base}-r{i}")
    }
}

impl RolePlan {
    /// The containers of the plan's version on this host, `container` first.
    pub fn replica_specs(&self) -> Vec<ContainerSpec> {
        (1..=self.replicas.max(1))
            .map(|i| {
                let mut spec = self.container.clone();
                spec.name = replica_name(&self.container.name, i);
                if self.replicas > 1 {
                    spec.labels.insert(LABEL_REPLICA.into(), i.to_string());
                }
                spec
            })
            .collect()
    }
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

/// Where the proxy finds a certificate dhow uploaded for a service (paths in its container).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsPaths {
    pub cert: String,
    pub key: String,
}

/// The whole deploy, redeploy or rollback.
#[derive(Debug, Clone)]
pub struct Plan {
    pub movement: Movement,
    pub service: String,
    pub destination: Option<String>,
    pub version: String,
    /// Image reference with tag: `<image>:<version>`.
    pub image_ref: String,
    /// Build the image here first (and push it, when the delivery is through a registry).
    pub build: bool,
    pub delivery: Delivery,
    pub lock_key: String,
    pub primary_host: String,
    pub hosts: Vec<HostPlan>,
    pub boot_limit: usize,
    pub boot_wait: Duration,
    pub retain: usize,
    /// How the proxy container is started on a host that lacks it (ports, ACME settings).
    pub proxy_boot: BootOptions,
    pub deploy_timeout: Duration,
    pub drain_timeout: Duration,
    pub stop_grace: Duration,
    /// `deploy --canary`: the proxied roles' new containers start beside the current ones and
    /// get this share of clients; nothing stops (`dhow rollout` goes on from there).
    pub canary: Option<Canary>,
    /// The bake window of a deploy or redeploy (none: the old containers stop at once).
    pub bake: Option<Bake>,
}

impl Plan {
    /// The request that starts a canary of `containers` for `role` beside `stable_version`.
    pub fn canary_request(
        &self,
        role: &RolePlan,
        containers: &[String],
        stable_version: &str,
    ) -> Option<dhow_proxy_api::CanaryRequest> {
        let (route, canary) = (role.route.as_ref()?, self.canary.as_ref()?);
        Some(dhow_proxy_api::CanaryRequest {
            targets: containers
                .iter()
                .map(|c| format!("{}:{}", crate::docker::spec::dns_name(c), route.app_port))
                .collect(),
            percent: canary.percent,
            version: self.version.clone(),
            stable_version: stable_version.to_string(),
            cookie: canary.cookie.clone(),
            header: canary.header.clone(),
            allow: canary.allow.clone(),
            health: route.health.clone(),
            deploy_timeout_ms: self.deploy_timeout.as_millis() as u64,
            bake: self.bake.as_ref().map(Bake::spec),
        })
    }

    /// The request that asks the proxy to health-check `containers` and switch `role` to
    /// them at once: the plan's own (one per replica), or (undoing after Ctrl-C) those that
    /// served before. `tls` are the paths the certificate upload returned, for a route with
    /// certificate files. `None` for a role that is not proxied.
    pub fn proxy_request(
        &self,
        role: &RolePlan,
        containers: &[String],
        tls: Option<TlsPaths>,
    ) -> Option<DeployRequest> {
        let route = role.route.as_ref()?;
        let target =
            |c: &String| format!("{}:{}", crate::docker::spec::dns_name(c), route.app_port);
        let targets: Vec<String> = containers.iter().map(target).collect();
        let (tls_cert, tls_key) = match tls {
            Some(p) => (Some(p.cert), Some(p.key)),
            None => (None, None),
        };
        Some(DeployRequest {
            target: targets.first().cloned().unwrap_or_default(),
            // One target: left out, so the request is what an older dhow sent.
            targets: if targets.len() > 1 {
                targets
            } else {
                Vec::new()
            },
            hosts: route.hosts.clone(),
            path_prefix: route.path_prefix.clone(),
            strip_prefix: route.strip_prefix,
            health: route.health.clone(),
            deploy_timeout_ms: self.deploy_timeout.as_millis() as u64,
            drain_timeout_ms: self.drain_timeout.as_millis() as u64,
            tls_cert,
            tls_key,
            tls_redirect: None,
            acme: route.acme,
            response_timeout_ms: route.response_timeout.map(|t| t.as_millis() as u64),
            buffering: route.buffering.clone(),
            traffic: route.traffic.clone(),
            bake: None,
        })
    }

    /// The hosts in plan order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.host.clone()).collect()
    }

    /// Every role of the plan, sorted, once.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::tests::sample;

    #[test]
    fn proxy_request_is_final_for_the_plan_container_and_a_kept_one() {
        let plan = sample().plan("v2", Movement::Deploy, false);
        let web = &plan.hosts[0].roles[0];
        let req = plan
            .proxy_request(web, std::slice::from_ref(&web.container.name), None)
            .unwrap();
        assert_eq!(req.target, "demo-web-staging-v2:3000");
        assert_eq!((req.tls_cert, req.tls_key), (None, None));
        let paths = TlsPaths {
            cert: "/c.crt".into(),
            key: "/c.key".into(),
        };
        let req = plan
            .proxy_request(web, &["demo-web-staging-v1".to_string()], Some(paths))
            .unwrap();
        assert_eq!(req.target, "demo-web-staging-v1:3000");
        assert_eq!(req.tls_cert.as_deref(), Some("/c.crt"));
        assert_eq!(req.tls_key.as_deref(), Some("/c.key"));
        let worker = &plan.hosts[1].roles[1];
        assert!(plan
            .proxy_request(worker, std::slice::from_ref(&worker.container.name), None)
            .is_none());
    }

    #[test]
    fn proxy_request_carries_the_apps_timeout_and_buffering_only_when_set() {
        let plan = sample().plan("v2", Movement::Deploy, false);
        let web = &plan.hosts[0].roles[0];
        let req = plan
            .proxy_request(web, std::slice::from_ref(&web.container.name), None)
            .unwrap();
        assert_eq!(
            (req.response_timeout_ms, req.buffering.clone()),
            (None, None)
        );
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            !json.contains("response_timeout") && !json.contains("buffering"),
            "{json}"
        );
        let mut s = sample();
        s.proxy.response_timeout = Some(Duration::from_millis(1500));
        s.proxy.buffering = Some(Buffering {
            requests: true,
            max_request_body: Some(10_000_000),
            ..Buffering::default()
        });
        let plan = s.plan("v2", Movement::Deploy, false);
        let web = &plan.hosts[0].roles[0];
        let req = plan
            .proxy_request(web, std::slice::from_ref(&web.container.name), None)
            .unwrap();
        assert_eq!(req.response_timeout_ms, Some(1500));
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            json.ends_with(r#""response_timeout_ms":1500,"buffering":{"requests":true,"max_request_body":10000000}}"#),
            "{json}"
        );
    }
}
