//! The `servers` part of the config's schema: a list of hosts (role web), or one table per
//! role (`[servers.<role>]`: hosts, cmd, env, labels, options, proxy, schedule, keep_runs,
//! replicas), or a role written as a list of hosts. Re-exported from `schema.rs`.

use super::schema::EnvConfig;
use super::server_host::ServerHost;
use super::types::{Cmd, OneOrMany, Scalar};
use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// `servers = ["a", "b"]` (role web) or `[servers.<role>]` tables (or `servers.<role> = [..]`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Servers {
    Hosts(Vec<ServerHost>),
    Roles(BTreeMap<String, RoleConfig>),
}

impl<'de> Deserialize<'de> for Servers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Servers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of hosts, or a table of roles")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Servers, A::Error> {
                let mut hosts = Vec::new();
                while let Some(h) = seq.next_element::<ServerHost>()? {
                    hosts.push(h);
                }
                Ok(Servers::Hosts(hosts))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Servers, A::Error> {
                let mut roles = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, RoleConfig>()? {
                    roles.insert(k, v);
                }
                Ok(Servers::Roles(roles))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleConfig {
    pub hosts: Vec<ServerHost>,
    pub cmd: Option<Cmd>,
    pub env: Option<EnvConfig>,
    pub labels: BTreeMap<String, Scalar>,
    pub options: BTreeMap<String, OneOrMany>,
    /// `proxy = true|false`, or `true` given as a table of the role's own route.
    pub proxy: Option<bool>,
    /// `proxy = { host = ..., path_prefix = ... }`: the role's own route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RoleRoute>,
    pub schedule: Option<String>,
    pub keep_runs: Option<usize>,
    pub replicas: Option<usize>,
}

/// A role's `proxy`: on or off, or on with a route of its own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
enum RoleProxy {
    On(bool),
    Route(RoleRoute),
}

/// A proxied role's own route (`[servers.<role>] proxy = { host = "admin.example.com" }`):
/// these keys replace `[proxy]`'s for this role; the rest (app_port, healthcheck,
/// certificates, timeouts...) is `[proxy]`'s.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleRoute {
    pub host: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub path_prefix: Option<String>,
    pub strip_path_prefix: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RoleTable {
    #[serde(default)]
    hosts: Vec<ServerHost>,
    cmd: Option<Cmd>,
    env: Option<EnvConfig>,
    #[serde(default)]
    labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    options: BTreeMap<String, OneOrMany>,
    /// Routed by the proxy (`true` for `web` and the primary role), or a table of its own
    /// route: `{ host, hosts, path_prefix, strip_path_prefix }`.
    proxy: Option<RoleProxy>,
    /// A cron role: `cmd` runs on this schedule (5-field cron, UTC); `keep_runs` (default 20).
    schedule: Option<String>,
    keep_runs: Option<usize>,
    /// Containers of the version on each host (1-64, default 1); the proxy balances over them.
    replicas: Option<usize>,
}

/// The schema of a role table (for json_schema.rs: `RoleTable` stays private here).
pub fn role_table_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<RoleTable>()
}

impl<'de> Deserialize<'de> for RoleConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RoleConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an array of hosts or a role table (hosts, cmd, env, labels, options, proxy, schedule, keep_runs, replicas)",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RoleConfig, A::Error> {
                let mut hosts = Vec::new();
                while let Some(h) = seq.next_element::<ServerHost>()? {
                    hosts.push(h);
                }
                Ok(RoleConfig {
                    hosts,
                    ..Default::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RoleConfig, A::Error> {
                let t = RoleTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RoleConfig {
                    hosts: t.hosts,
                    cmd: t.cmd,
                    env: t.env,
                    labels: t.labels,
                    options: t.options,
                    proxy: match &t.proxy {
                        Some(RoleProxy::On(b)) => Some(*b),
                        Some(RoleProxy::Route(_)) => Some(true),
                        None => None,
                    },
                    route: match t.proxy {
                        Some(RoleProxy::Route(r)) => Some(r),
                        _ => None,
                    },
                    schedule: t.schedule,
                    keep_runs: t.keep_runs,
                    replicas: t.replicas,
                })
            }
        }
        d.deserialize_any(V)
    }
}
