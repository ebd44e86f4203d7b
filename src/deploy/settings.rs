//! What deploys need from the config, as plain resolved data (hosts selected, env merged,
//! secrets resolved, durations parsed), and the plan built from it for one version. The
//! config module produces [`Settings`]; everything after works from these types alone.

use super::container::{container_name, role_prefix, ContainerSpec, CronRun};
use super::plan::{Delivery, HostPlan, Movement, Plan, RolePlan};
use super::role_env::HostEnv;
use super::targets::{HostTargets, RoleTarget, Targets};
use crate::host::ssh::{SshOptions, SshTarget};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A role with its (selected) hosts and resolved settings.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    pub name: String,
    pub hosts: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// The env on hosts without tags (app and role merged).
    pub env: Vec<(String, String)>,
    pub secret_env: Vec<(String, SecretString)>,
    /// The env on each host that carries tags (their `env.tags` merged over the above).
    pub host_env: BTreeMap<String, HostEnv>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, Vec<String>>,
    pub proxied: bool,
    /// A cron role's schedule (its `cmd` runs on it: deploy/cron.rs).
    pub cron: Option<CronSettings>,
    /// Containers of the version on each host (`replicas`, at least 1).
    pub replicas: usize,
    /// The role's own route, replacing `[proxy]`'s hosts, prefix or stripping.
    pub route: Option<RouteOverride>,
}

pub use super::role_route::RouteOverride;

/// A cron role's schedule and how many runs hosts keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSettings {
    pub schedule: String,
    pub keep_runs: usize,
}

/// The proxy settings of the app.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub hosts: Vec<String>,
    pub app_port: u16,
    pub path_prefix: Option<String>,
    pub strip_prefix: bool,
    pub health_path: String,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    /// The certificate served on HTTPS for the app's hosts.
    pub tls: Option<TlsFiles>,
    /// Certificates from ACME instead (`ssl = true` without files).
    pub acme: bool,
    /// How the proxy container is started (published ports, ACME account settings).
    pub boot: crate::proxy::on_host::BootOptions,
    /// How long the app has to start a response (none: the proxy's 60 s).
    pub response_timeout: Option<Duration>,
    /// Body limits and buffering (none: streamed, the proxy's 1 GiB request limit).
    pub buffering: Option<crate::proxy::control::Buffering>,
    /// Several path prefixes, rate limit, error pages, canonical host.
    pub traffic: crate::proxy::control::Traffic,
}

/// A certificate and its key, read from the deployer's files (sent to the proxy: src/proxy/).
pub use crate::proxy::on_host::TlsFiles;

/// The registry, when images go through one.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub server: String,
    pub username: String,
    pub password: Option<SecretString>,
}

/// How the image is built.
#[derive(Debug, Clone, Default)]
pub struct BuilderSettings {
    pub context: PathBuf,
    /// Build from the committed tree (default) or the working tree.
    pub context_source: crate::config::types::ContextSource,
    pub dockerfile: String,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    /// The values of `secrets`, resolved from `.dhow/secrets*`.
    pub secret_values: Vec<(String, SecretString)>,
    pub arch: Option<String>,
}

/// Everything a host-touching command needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: String,
    /// Image repository without tag (`dhow/demo`, `registry:5000/team/app`).
    pub image: String,
    pub destination: Option<String>,
    pub primary_role: String,
    /// Selected roles in config order, each with its selected hosts.
    pub roles: Vec<RoleSettings>,
    /// The primary host (first host of the primary role, whatever is selected).
    pub primary_host: String,
    /// Connection target for every host name used above.
    pub targets: BTreeMap<String, SshTarget>,
    pub ssh: SshOptions,
    pub proxy: ProxySettings,
    pub registry: Option<RegistrySettings>,
    /// Without a registry: only missing layers, or the whole image.
    pub delivery: crate::config::types::DeliveryMode,
    pub builder: BuilderSettings,
    pub boot_limit: usize,
    pub boot_wait: Duration,
    pub retain: usize,
    pub deploy_timeout: Duration,
    pub drain_timeout: Duration,
    pub stop_grace: Duration,
    pub hooks_path: PathBuf,
    /// `[canary]`: how a canary keeps clients on one version (its share comes from the
    /// command line).
    pub canary: super::plan::Canary,
    /// `[deploy]`: the bake window (zero: none) and its limits.
    pub bake: super::plan::Bake,
    /// Every accessory, its hosts narrowed by `-h`.
    pub accessories: Vec<crate::accessory::AccessorySettings>,
}

impl Settings {
    /// The SSH target of a host as written in the config (user and port included).
    pub fn target(&self, host: &str) -> SshTarget {
        self.targets
            .get(host)
            .cloned()
            .unwrap_or_else(|| SshTarget::host(host.to_string()))
    }

    /// `<service>[-<destination>]`: names the lock and the state directory on hosts.
    pub fn lock_key(&self) -> String {
        super::container::state_key(&self.service, self.destination.as_deref())
    }

    /// The image reference for a version.
    pub fn image_ref(&self, version: &str) -> String {
        format!("{}:{version}", self.image)
    }

    /// Every selected host, in config order, once.
    pub fn host_names(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for r in &self.roles {
            for h in &r.hosts {
                if !seen.contains(h) {
                    seen.push(h.clone());
                }
            }
        }
        seen
    }

    /// The selected hosts and roles, for commands that need no version.
    pub fn targets(&self) -> Targets {
        let hosts = self
            .host_names()
            .into_iter()
            .map(|host| HostTargets {
                roles: self
                    .roles
                    .iter()
                    .filter(|r| r.hosts.contains(&host))
                    .map(|r| RoleTarget {
                        role: r.name.clone(),
                        prefix: self.prefix(r),
                        route: self.route(r),
                    })
                    .collect(),
                host,
            })
            .collect();
        Targets {
            service: self.service.clone(),
            image: self.image.clone(),
            destination: self.destination.clone(),
            lock_key: self.lock_key(),
            primary_host: self.primary_host.clone(),
            hosts,
            retain: self.retain,
            stop_grace: self.stop_grace,
        }
    }

    /// The plan for `movement` to `version`; `skip_push` means the image is not built here
    /// (it is in the registry, or on the hosts, already).
    pub fn plan(&self, version: &str, movement: Movement, skip_push: bool) -> Plan {
        let image_ref = self.image_ref(version);
        let hosts = self
            .host_names()
            .into_iter()
            .map(|host| HostPlan {
                roles: self
                    .roles
                    .iter()
                    .filter(|r| r.hosts.contains(&host))
                    .map(|r| self.role_plan(r, &host, version, &image_ref))
                    .collect(),
                host,
            })
            .collect();
        let rollback = movement == Movement::Rollback;
        let delivery = match (&self.registry, rollback, skip_push) {
            (_, true, _) => Delivery::Nothing,
            (Some(r), false, _) => Delivery::Registry(r.clone()),
            (None, false, false) => match self.delivery {
                crate::config::types::DeliveryMode::Layers => Delivery::Layers,
                crate::config::types::DeliveryMode::Stream => Delivery::Ssh,
            },
            (None, false, true) => Delivery::OnHosts,
        };
        Plan {
            movement,
            service: self.service.clone(),
            destination: self.destination.clone(),
            version: version.to_string(),
            image_ref,
            build: !rollback && !skip_push,
            delivery,
            lock_key: self.lock_key(),
            primary_host: self.primary_host.clone(),
            hosts,
            boot_limit: self.boot_limit,
            boot_wait: self.boot_wait,
            retain: self.retain,
            proxy_boot: self.proxy.boot.clone(),
            deploy_timeout: self.deploy_timeout,
            drain_timeout: self.drain_timeout,
            stop_grace: self.stop_grace,
            canary: None,
            bake: match movement {
                Movement::Deploy | Movement::Redeploy if !self.bake.window.is_zero() => {
                    Some(self.bake.clone())
                }
                _ => None,
            },
        }
    }

    fn prefix(&self, role: &RoleSettings) -> String {
        role_prefix(&self.service, &role.name, self.destination.as_deref())
    }

    fn role_plan(
        &self,
        role: &RoleSettings,
        host: &str,
        version: &str,
        image_ref: &str,
    ) -> RolePlan {
        let prefix = self.prefix(role);
        let tagged = role.host_env.get(host);
        let (env, secret_env) = match tagged {
            Some(e) => (e.env.clone(), e.secret_env.clone()),
            None => (role.env.clone(), role.secret_env.clone()),
        };
        RolePlan {
            role: role.name.clone(),
            primary: role.name == self.primary_role,
            container: ContainerSpec {
                name: container_name(&prefix, version),
                image: image_ref.to_string(),
                service: self.service.clone(),
                role: role.name.clone(),
                destination: self.destination.clone(),
                version: version.to_string(),
                cmd: role.cmd.clone(),
                env,
                secret_env,
                labels: role.labels.clone(),
                options: role.options.clone(),
                cron: role.cron.as_ref().map(|c| CronRun {
                    schedule: c.schedule.clone(),
                    keep_runs: c.keep_runs,
                    owner: self.lock_key(),
                }),
            },
            route: self.route(role),
            tags: tagged.map(|e| e.tags.clone()).unwrap_or_default(),
            env_from_tags: tagged.map(|e| e.from_tags.clone()).unwrap_or_default(),
            replicas: role.replicas,
            prefix,
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn sample() -> Settings {
        let role = |name: &str, hosts: &[&str], proxied: bool| RoleSettings {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            cmd: None,
            env: vec![("A".into(), "1".into())],
            secret_env: vec![("TOKEN".into(), SecretString::from("s3cret-value"))],
            host_env: BTreeMap::new(),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            proxied,
            cron: None,
            replicas: 1,
            route: None,
        };
        Settings {
            service: "demo".into(),
            image: "dhow/demo".into(),
            destination: Some("staging".into()),
            primary_role: "web".into(),
            roles: vec![
                role("web", &["h1", "h2"], true),
                role("worker", &["h2"], false),
            ],
            primary_host: "h1".into(),
            targets: BTreeMap::new(),
            ssh: SshOptions::default(),
            proxy: ProxySettings {
                hosts: vec!["demo.test".into()],
                app_port: 3000,
                path_prefix: None,
                strip_prefix: false,
                health_path: "/up".into(),
                health_interval: Duration::from_secs(1),
                health_timeout: Duration::from_secs(5),
                tls: None,
                acme: false,
                boot: crate::proxy::on_host::BootOptions::default(),
                response_timeout: None,
                buffering: None,
                traffic: Default::default(),
            },
            registry: None,
            delivery: Default::default(),
            builder: BuilderSettings::default(),
            boot_limit: 10,
            boot_wait: Duration::ZERO,
            retain: 5,
            deploy_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(10),
            hooks_path: "hooks".into(),
            canary: Default::default(),
            bake: Default::default(),
            accessories: vec![],
        }
    }

    #[test]
    fn plan_places_roles_on_their_hosts() {
        let plan = sample().plan("v1", Movement::Deploy, false);
        assert_eq!(plan.lock_key, "demo-staging");
        assert_eq!(plan.image_ref, "dhow/demo:v1");
        assert_eq!(plan.host_names(), vec!["h1", "h2"]);
        let h2 = &plan.hosts[1];
        assert_eq!(h2.roles.len(), 2);
        assert_eq!(h2.roles[0].container.name, "demo-web-staging-v1");
        assert!(h2.roles[0].primary && h2.roles[0].route.is_some());
        assert_eq!(h2.roles[1].container.name, "demo-worker-staging-v1");
        assert!(h2.roles[1].route.is_none());
        let req = plan
            .proxy_request(
                &h2.roles[0],
                std::slice::from_ref(&h2.roles[0].container.name),
                None,
            )
            .unwrap();
        assert_eq!(req.target, "demo-web-staging-v1:3000");
    }

    #[test]
    fn dry_run_shows_secret_names_never_values() {
        let text = sample().plan("v1", Movement::Deploy, false).describe();
        assert!(text.contains("TOKEN (secret)"), "{text}");
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(
            text.contains("h2:") && text.contains("not proxied"),
            "{text}"
        );
    }

    #[test]
    fn targets_are_the_plan_without_a_version() {
        let s = sample();
        let targets = s.targets();
        let plan = s.plan("v1", Movement::Deploy, false);
        assert_eq!(targets.host_names(), plan.host_names());
        assert_eq!(targets.role_names(), plan.role_names());
        assert_eq!(targets.lock_key, plan.lock_key);
        assert_eq!(targets.image, "dhow/demo");
        let h2 = &targets.hosts[1];
        assert_eq!(h2.roles[0].prefix, plan.hosts[1].roles[0].prefix);
        assert!(h2.roles[0].route.is_some() && h2.roles[1].route.is_none());
    }

    #[test]
    fn delivery_follows_registry_movement_and_skip_push() {
        let mut s = sample();
        let p = s.plan("v1", Movement::Deploy, false);
        assert!(p.build && matches!(p.delivery, Delivery::Layers));
        let p = s.plan("v1", Movement::Redeploy, true);
        assert!(!p.build && matches!(p.delivery, Delivery::OnHosts));
        let p = s.plan("v1", Movement::Rollback, false);
        assert!(!p.build && matches!(p.delivery, Delivery::Nothing));
        s.registry = Some(RegistrySettings {
            server: "registry:5000".into(),
            username: "ci".into(),
            password: None,
        });
        let p = s.plan("v1", Movement::Deploy, true);
        assert!(!p.build && matches!(p.delivery, Delivery::Registry(_)));
        assert!(p
            .describe()
            .contains("pull dhow/demo:v1 from registry:5000"));
    }
}
