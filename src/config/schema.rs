//! The config file's schema: every key dhow knows, as serde types that refuse unknown keys.
//! Every field is optional here so a destination file can hold any part of it; required keys
//! and defaults are applied after the merge (see `validate.rs` and the accessors below).
//! Every key here has an effect: keys Kamal users write that dhow does not support yet are
//! [`NotYet`], refused where they are written, never accepted and ignored.

use super::types::{
    Cmd, ContextSource, DeliveryMode, Dur, HostSpec, Limit, OneOrMany, PosDur, Scalar,
};
use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key of Kamal's config that dhow does not support yet: whatever its value, the file is
/// refused at that key (rather than the key accepted and silently doing nothing).
#[derive(Debug, Clone, Serialize)]
pub struct NotYet;

impl<'de> Deserialize<'de> for NotYet {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(
            "this key is not supported by dhow yet (see docs/config.md for the keys it has); \
             remove it",
        ))
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub service: Option<String>,
    pub image: Option<String>,
    pub servers: Option<Servers>,
    pub proxy: Option<ProxyConfig>,
    pub registry: Option<RegistryConfig>,
    /// Without a registry: `layers` (default) or `stream`.
    pub delivery: Option<DeliveryMode>,
    pub builder: Option<BuilderConfig>,
    pub env: Option<AppEnvConfig>,
    pub ssh: Option<SshConfig>,
    pub accessories: Option<BTreeMap<String, AccessoryConfig>>,
    pub boot: Option<BootConfig>,
    pub hooks_path: Option<String>,
    pub retain_containers: Option<u32>,
    pub deploy_timeout: Option<PosDur>,
    pub drain_timeout: Option<Dur>,
    pub primary_role: Option<String>,
    pub require_destination: Option<bool>,
    pub setup: Option<SetupConfig>,
    /// How `dhow deploy --canary` keeps clients on one version.
    pub canary: Option<CanaryConfig>,
    /// The bake window after a switch.
    pub deploy: Option<DeployConfig>,
    pub aliases: Option<BTreeMap<String, String>>,
    // Kamal's keys dhow does not have yet (refused: see `NotYet`).
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub asset_path: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub logging: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub volumes: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub readiness_delay: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub run_directory: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub minimum_version: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub error_pages_path: Option<NotYet>,
}

pub use super::servers_schema::{role_table_schema, RoleConfig, Servers};

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    #[serde(default)]
    pub clear: BTreeMap<String, Scalar>,
    /// Secret names; `NAME:SECRET_NAME` sets NAME from the secret SECRET_NAME.
    #[serde(default)]
    pub secret: Vec<String>,
}

/// The top-level `[env]`: the app's env, and `[env.tags.<tag>]` merged over it (and over the
/// role's) for containers on hosts carrying the tag.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppEnvConfig {
    #[serde(default)]
    pub clear: BTreeMap<String, Scalar>,
    /// Secret names; `NAME:SECRET_NAME` sets NAME from the secret SECRET_NAME.
    #[serde(default)]
    pub secret: Vec<String>,
    /// Env per host tag (tags are given to hosts in `servers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, EnvConfig>,
}

impl AppEnvConfig {
    /// The app's own env, without the tags.
    pub fn base(&self) -> EnvConfig {
        EnvConfig {
            clear: self.clear.clone(),
            secret: self.secret.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub host: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub app_port: Option<u16>,
    pub path_prefix: Option<String>,
    /// Several path prefixes routed to the app (instead of `path_prefix`, not with it).
    pub path_prefixes: Option<Vec<String>>,
    pub strip_path_prefix: Option<bool>,
    pub ssl: Option<bool>,
    /// PEM certificate chain (a local file) served for `host`/`hosts` on HTTPS.
    pub ssl_certificate: Option<String>,
    /// PEM private key of `ssl_certificate` (a local file; never printed).
    pub ssl_private_key: Option<String>,
    /// Contact e-mail of the proxy's ACME account (automatic certificates, `ssl = true`).
    pub acme_email: Option<String>,
    /// The ACME directory (default: Let's Encrypt).
    pub acme_directory: Option<String>,
    pub healthcheck: Option<HealthcheckConfig>,
    pub response_timeout: Option<Dur>,
    pub buffering: Option<BufferingConfig>,
    /// The host ports the proxy publishes: `[HTTP]` or `[HTTP, HTTPS]`; `[80, 443]` by
    /// default. Applied at proxy boot.
    pub publish: Option<Vec<u16>>,
    /// Host addresses the proxy's ports are published on (default: every address).
    pub bind: Option<Vec<String>>,
    /// A host port serving the proxy's Prometheus metrics (`/metrics`); off by default.
    pub metrics_port: Option<u16>,
    /// The proxy's operational log at debug level.
    pub debug: Option<bool>,
    /// The size at which the proxy containers' log is rotated (Docker's `max-size`: `10m`).
    pub log_max_size: Option<String>,
    /// Senders (a CDN, a load balancer) whose X-Forwarded-*/Forwarded headers the proxy keeps:
    /// IP addresses and CIDR ranges. Applied at proxy boot.
    pub trusted_proxies: Option<Vec<String>>,
    /// Client connections the proxy holds open at once (applied at proxy boot).
    pub max_connections: Option<u32>,
    /// A dhow-proxy image of the team's own (`registry.example.com/ops/dhow-proxy:1.2`)
    /// instead of the one dhow makes from the proxy binary it carries. Applied at proxy boot.
    pub image: Option<String>,
    /// A token-bucket rate limit per client at the proxy.
    pub rate_limit: Option<RateLimitConfig>,
    /// A local directory with the app's own 502.html, 503.html, 504.html and
    /// maintenance.html (any of them), served by the proxy instead of its own pages.
    pub error_pages_path: Option<String>,
    /// Requests for the app's other hosts are redirected (301) to this one.
    pub canonical_host: Option<String>,
}

/// `[proxy.rate_limit]`: `burst` requests at once (default `requests`), then `requests` per
/// `per` (default 1s), per client (`by`: `ip`, or `header:NAME`).
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests: u64,
    pub per: Option<PosDur>,
    pub burst: Option<u64>,
    pub by: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckConfig {
    pub path: Option<String>,
    pub interval: Option<PosDur>,
    pub timeout: Option<PosDur>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BufferingConfig {
    pub requests: Option<bool>,
    pub responses: Option<bool>,
    pub max_request_body: Option<u64>,
    pub max_response_body: Option<u64>,
    pub memory: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub server: Option<String>,
    pub username: Option<String>,
    /// The name of the secret holding the password.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderConfig {
    pub context: Option<String>,
    /// `commit` (default) or `working-tree`.
    pub context_source: Option<ContextSource>,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub secrets: Vec<String>,
    pub arch: Option<String>,
    // Kamal's keys dhow does not have yet (refused: see `NotYet`).
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub cache: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub remote: Option<NotYet>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    #[allow(dead_code)] // never read: any value is refused
    pub driver: Option<NotYet>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    pub user: Option<String>,
    pub port: Option<u16>,
    /// A jump host, like OpenSSH's ProxyJump: `[user@]host[:port]`.
    pub proxy: Option<HostSpec>,
    pub keys: Option<Vec<String>>,
    pub use_agent: Option<bool>,
    pub known_hosts: Option<String>,
    /// `strict` (default), `accept-new` or `off`.
    pub known_hosts_policy: Option<KnownHostsPolicy>,
    pub connect_timeout: Option<PosDur>,
    pub keepalive: Option<PosDur>,
    /// The user's ssh config: `true` (default: ~/.ssh/config if it exists), `false`, or a path.
    pub config: Option<SshConfigSetting>,
    /// Private keys from secrets (names in `.dhow/secrets*`), used in memory only.
    pub key_data: Option<Vec<String>>,
}

/// `ssh.config`: on/off, or the file to read.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize, PartialEq)]
#[serde(untagged)]
pub enum SshConfigSetting {
    On(bool),
    Path(String),
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum KnownHostsPolicy {
    Strict,
    AcceptNew,
    Off,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessoryConfig {
    pub image: Option<String>,
    pub host: Option<HostSpec>,
    pub hosts: Option<Vec<HostSpec>>,
    pub roles: Option<Vec<String>>,
    /// Every host of `servers` carrying one of these tags.
    pub tags: Option<Vec<String>>,
    pub cmd: Option<Cmd>,
    /// `"5432"`, `"127.0.0.1:5432:5432"`; published on 127.0.0.1 unless an address is given.
    pub port: Option<Scalar>,
    pub env: Option<EnvConfig>,
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Local file → path in the container (a string), or a table with mode/owner/template.
    #[serde(default)]
    pub files: BTreeMap<String, AccessoryFile>,
    /// `"data:/var/lib/postgresql/data"`: a host directory (relative to the accessory's
    /// directory on the host, or absolute) mounted at a path in the container.
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default)]
    pub options: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    pub network: Option<String>,
}

/// Where an accessory file goes: `"/etc/app.conf"` or
/// `{ path = "/etc/app.conf", mode = "0600", owner = "999:999", template = true }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
#[serde(untagged)]
pub enum AccessoryFile {
    Path(String),
    Full(AccessoryFileTable),
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessoryFileTable {
    pub path: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub template: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootConfig {
    pub limit: Option<Limit>,
    pub wait: Option<Dur>,
}

/// `[deploy]`: the bake window. After the switch the old containers keep running, unrouted,
/// while the proxy judges the new ones; past a limit it switches back by itself.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// How long (`0`: no bake window, the default).
    pub bake: Option<Dur>,
    /// Largest share of 5xx answers, 0 to 1 (default 0.01).
    pub bake_max_error_rate: Option<f64>,
    /// Largest p99 latency (default: not judged).
    pub bake_max_p99: Option<PosDur>,
    /// Fewer requests than this are not judged (default 20).
    pub bake_min_requests: Option<u64>,
}

/// `[canary]`: the cookie that keeps a client on one version during a canary rollout, the
/// header a tester chooses a version with, and cookie values always sent to the canary.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Default `dhow_canary`.
    pub cookie: Option<String>,
    /// Default `X-Dhow-Canary` (`canary` or `stable` as its value).
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetupConfig {
    pub firewall: Option<bool>,
    pub harden: Option<bool>,
    /// `apt` (default) or `script`.
    pub docker_install: Option<DockerInstall>,
    /// Where `docker_install = "script"` fetches the install script (https://get.docker.com).
    pub docker_script_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum DockerInstall {
    Apt,
    Script,
}
