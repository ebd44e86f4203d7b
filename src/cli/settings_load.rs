//! Turns the loaded config into deploy [`Settings`]: selected roles and hosts, merged env with
//! resolved secrets, durations, SSH options.
//! INTERIM: reads the TOML directly until the config module (schema, validation with
//! file:line:column, destinations, secrets files) is merged; then this file maps its types.

use super::Global;
use crate::deploy::settings::{
    BuilderSettings, ProxySettings, RegistrySettings, RoleSettings, Settings,
};
use crate::error::{fail, Kind};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Value;

pub fn load(global: &Global) -> anyhow::Result<Settings> {
    let hosts = super::hosts_tmp::load(global)?;
    let text = std::fs::read_to_string(&global.config_file)?;
    let doc: Value = toml::from_str(&text).map_err(|e| fail(Kind::Config, format!("{e}")))?;
    let get_str = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let service = get_str("service").ok_or_else(|| fail(Kind::Config, "service missing"))?;
    let image = get_str("image").ok_or_else(|| fail(Kind::Config, "image missing"))?;
    let dur = |v: Option<&Value>, d: Duration| {
        v.and_then(Value::as_str)
            .and_then(|s| super::context::parse_duration(s).ok())
            .unwrap_or(d)
    };
    let selected: Vec<String> = hosts.targets.iter().map(|t| t.to_string()).collect();
    let env_of = |v: Option<&Value>| -> Vec<(String, String)> {
        v.and_then(|e| e.get("clear"))
            .and_then(Value::as_table)
            .map(|t| {
                t.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let global_env = env_of(doc.get("env"));
    let mut roles = Vec::new();
    match doc.get("servers") {
        Some(Value::Array(list)) => roles.push(RoleSettings {
            name: "web".into(),
            hosts: list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .filter(|h| selected.contains(h))
                .collect(),
            cmd: None,
            env: global_env.clone(),
            secret_env: vec![],
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            proxied: true,
        }),
        Some(Value::Table(t)) => {
            for (name, r) in t {
                let mut env = global_env.clone();
                env.extend(env_of(r.get("env")));
                roles.push(RoleSettings {
                    name: name.clone(),
                    hosts: r
                        .get("hosts")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .filter(|h| selected.contains(h))
                                .collect()
                        })
                        .unwrap_or_default(),
                    cmd: r.get("cmd").and_then(Value::as_array).map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    }),
                    env,
                    secret_env: vec![],
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    proxied: r
                        .get("proxy")
                        .and_then(Value::as_bool)
                        .unwrap_or(name == "web"),
                });
            }
        }
        _ => return Err(fail(Kind::Config, "servers missing")),
    }
    roles.retain(|r| !r.hosts.is_empty());
    let primary_role = get_str("primary_role").unwrap_or_else(|| "web".into());
    let primary_host = roles
        .iter()
        .find(|r| r.name == primary_role)
        .or(roles.first())
        .and_then(|r| r.hosts.first().cloned())
        .unwrap_or_default();
    let proxy = doc.get("proxy");
    let hc = proxy.and_then(|p| p.get("healthcheck"));
    let targets = hosts
        .targets
        .iter()
        .map(|t| (t.to_string(), t.clone()))
        .collect();
    let builder = doc.get("builder");
    Ok(Settings {
        service,
        image,
        destination: global.destination.clone(),
        primary_role,
        roles,
        primary_host,
        targets,
        ssh: hosts.ssh,
        proxy: ProxySettings {
            hosts: proxy
                .and_then(|p| p.get("host"))
                .and_then(Value::as_str)
                .map(|h| vec![h.to_string()])
                .unwrap_or_default(),
            app_port: proxy
                .and_then(|p| p.get("app_port"))
                .and_then(Value::as_integer)
                .unwrap_or(80) as u16,
            path_prefix: None,
            strip_prefix: false,
            health_path: hc
                .and_then(|h| h.get("path"))
                .and_then(Value::as_str)
                .unwrap_or("/up")
                .to_string(),
            health_interval: dur(hc.and_then(|h| h.get("interval")), Duration::from_secs(1)),
            health_timeout: dur(hc.and_then(|h| h.get("timeout")), Duration::from_secs(5)),
            tls: false,
            publish: vec![(80, 80), (443, 443)],
        },
        registry: doc.get("registry").map(|r| RegistrySettings {
            server: r
                .get("server")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            username: r
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            password: None,
        }),
        builder: BuilderSettings {
            context: PathBuf::from(
                builder
                    .and_then(|b| b.get("context"))
                    .and_then(Value::as_str)
                    .unwrap_or("."),
            ),
            dockerfile: builder
                .and_then(|b| b.get("dockerfile"))
                .and_then(Value::as_str)
                .unwrap_or("Dockerfile")
                .to_string(),
            ..Default::default()
        },
        boot_limit: 100,
        boot_wait: Duration::ZERO,
        retain: doc
            .get("retain_containers")
            .and_then(Value::as_integer)
            .unwrap_or(5) as usize,
        deploy_timeout: dur(doc.get("deploy_timeout"), Duration::from_secs(30)),
        drain_timeout: dur(doc.get("drain_timeout"), Duration::from_secs(30)),
        stop_grace: Duration::from_secs(10),
        hooks_path: PathBuf::from(get_str("hooks_path").unwrap_or_else(|| "hooks".into())),
    })
}
