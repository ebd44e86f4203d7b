//! A dhow container as the Docker Engine API sees it: the plain spec of one app container
//! (image, env, labels, `docker run`-style options) and its create body (restart policy,
//! network, options mapped to the host config). Pure builders, no I/O.
//!
//! This lives in docker/, below deploy/, because it is the translation of a container into
//! the Engine's request: `containers::create_and_start` takes a spec, and accessories map
//! their options with the same [`apply_option`]. What dhow *calls* its containers (the
//! `<service>-<role>-<version>` naming rules) is deploy policy and stays in deploy/container.rs.

use super::labels::{LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION};
use super::network::NETWORK;
use crate::error::{fail, Kind};
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};

/// Everything needed to create one app container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub service: String,
    pub role: String,
    pub destination: Option<String>,
    pub version: String,
    pub cmd: Option<Vec<String>>,
    /// Clear env.
    pub env: Vec<(String, String)>,
    /// Secret env: the values only leave this process inside the Docker API request body.
    pub secret_env: Vec<(String, SecretString)>,
    pub labels: BTreeMap<String, String>,
    /// docker-run style options (`memory = "512m"`, `add-host = [...]`), already normalised.
    pub options: BTreeMap<String, Vec<String>>,
    /// A cron role's container: the scheduler as entrypoint, `cmd` the job (deploy/cron.rs).
    pub cron: Option<CronRun>,
}

/// What makes a container a cron role's: its schedule, the runs kept, and the app directory
/// its state lives in on the host (`owner`, the lock key: deploy/cron.rs bind-mounts
/// `~/.dhow/<owner>/cron/<role>` at `dhow_proxy_api::cron::STATE_DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRun {
    pub schedule: String,
    pub keep_runs: usize,
    pub owner: String,
}

/// The labels identifying a container as the given service/role/destination/version.
pub fn labels(spec: &ContainerSpec) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    l.insert(LABEL_SERVICE.into(), spec.service.clone());
    l.insert(LABEL_ROLE.into(), spec.role.clone());
    l.insert(
        LABEL_DESTINATION.into(),
        spec.destination.clone().unwrap_or_default(),
    );
    l.insert(LABEL_VERSION.into(), spec.version.clone());
    l
}

/// The create body for the Docker API.
pub fn create_body(spec: &ContainerSpec) -> anyhow::Result<ContainerCreateBody> {
    let mut env: Vec<String> = vec![
        format!("DHOW_SERVICE={}", spec.service),
        format!("DHOW_ROLE={}", spec.role),
        format!("DHOW_VERSION={}", spec.version),
        format!("DHOW_CONTAINER_NAME={}", spec.name),
    ];
    if let Some(d) = &spec.destination {
        env.push(format!("DHOW_DESTINATION={d}"));
    }
    env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
    env.extend(
        spec.secret_env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.expose_secret())),
    );
    let mut host = HostConfig {
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        network_mode: Some(NETWORK.into()),
        ..Default::default()
    };
    let mut body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec
            .cron
            .as_ref()
            .map(|c| dhow_proxy_api::cron::serve_entrypoint(&c.schedule, c.keep_runs)),
        cmd: spec.cmd.clone(),
        env: Some(env),
        labels: Some(labels(spec)),
        ..Default::default()
    };
    let dns = dns_name(&spec.name);
    if dns != spec.name {
        body.networking_config = Some(bollard::models::NetworkingConfig {
            endpoints_config: Some(std::collections::HashMap::from([(
                NETWORK.to_string(),
                bollard::models::EndpointSettings {
                    aliases: Some(vec![dns]),
                    ..Default::default()
                },
            )])),
        });
    }
    for (key, values) in &spec.options {
        apply_option(&mut body, &mut host, key, values)?;
    }
    body.host_config = Some(host);
    Ok(body)
}

/// The name the proxy reaches a container by on the dhow network: the container's own name,
/// or, when that cannot be asked of DNS (a label over 63 bytes: long service, destination and
/// version names together), a network alias of its first 50 bytes and 12 hex digits of its
/// SHA-256, which the container gets at create time.
pub fn dns_name(container: &str) -> String {
    let fits =
        container.len() <= 253 && container.split('.').all(|l| !l.is_empty() && l.len() <= 63);
    if fits {
        return container.to_string();
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(container.as_bytes()));
    let head: String = container
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    format!("{}-{}", head.trim_end_matches('-'), &digest[..12])
}

/// Role options dhow understands, as `docker run` spells them.
pub const SUPPORTED_OPTIONS: &[&str] = &[
    "add-host",
    "cap-add",
    "cap-drop",
    "cpus",
    "entrypoint",
    "init",
    "log-driver",
    "log-opt",
    "memory",
    "memory-reservation",
    "publish",
    "stop-signal",
    "stop-timeout",
    "ulimit",
    "user",
    "volume",
    "workdir",
];

pub fn apply_option(
    body: &mut ContainerCreateBody,
    host: &mut HostConfig,
    key: &str,
    values: &[String],
) -> anyhow::Result<()> {
    let one = || -> anyhow::Result<&str> {
        match values {
            [v] => Ok(v.as_str()),
            _ => Err(fail(
                Kind::Config,
                format!("option {key} takes one value, got {}", values.len()),
            )),
        }
    };
    let bad = |what: &str| fail(Kind::Config, format!("option {key}: {what}"));
    match key {
        "add-host" => host.extra_hosts = Some(values.to_vec()),
        "cap-add" => host.cap_add = Some(values.to_vec()),
        "cap-drop" => host.cap_drop = Some(values.to_vec()),
        "volume" => host.binds = Some(values.to_vec()),
        "cpus" => {
            let cpus: f64 = one()?
                .parse()
                .map_err(|_| bad("expected a number like 1.5"))?;
            host.nano_cpus = Some((cpus * 1e9) as i64);
        }
        "memory" => {
            host.memory =
                Some(parse_bytes(one()?).ok_or_else(|| bad("expected a size like 512m or 2g"))?)
        }
        "memory-reservation" => {
            host.memory_reservation =
                Some(parse_bytes(one()?).ok_or_else(|| bad("expected a size like 512m or 2g"))?)
        }
        "init" => host.init = Some(one()? != "false"),
        "log-driver" => {
            let mut cfg = host.log_config.take().unwrap_or_default();
            cfg.typ = Some(one()?.to_string());
            host.log_config = Some(cfg);
        }
        "log-opt" => {
            let mut cfg = host.log_config.take().unwrap_or_default();
            let mut map = cfg.config.take().unwrap_or_default();
            for v in values {
                let (k, val) = v.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
                map.insert(k.to_string(), val.to_string());
            }
            cfg.config = Some(map);
            host.log_config = Some(cfg);
        }
        "publish" => {
            let mut ports = host.port_bindings.take().unwrap_or_default();
            for v in values {
                let (binding, container) = parse_publish(v)
                    .ok_or_else(|| bad("expected [IP:]HOSTPORT:CONTAINERPORT[/proto]"))?;
                ports
                    .entry(container)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(binding);
            }
            host.port_bindings = Some(ports);
        }
        "stop-signal" => body.stop_signal = Some(one()?.to_string()),
        "stop-timeout" => {
            body.stop_timeout = Some(one()?.parse().map_err(|_| bad("expected seconds"))?)
        }
        "ulimit" => {
            let mut list = host.ulimits.take().unwrap_or_default();
            for v in values {
                let (name, limits) = v
                    .split_once('=')
                    .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
                let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
                list.push(bollard::models::ResourcesUlimits {
                    name: Some(name.to_string()),
                    soft: Some(
                        soft.parse()
                            .map_err(|_| bad("soft limit must be a number"))?,
                    ),
                    hard: Some(
                        hard.parse()
                            .map_err(|_| bad("hard limit must be a number"))?,
                    ),
                });
            }
            host.ulimits = Some(list);
        }
        "user" => body.user = Some(one()?.to_string()),
        "workdir" => body.working_dir = Some(one()?.to_string()),
        "entrypoint" => body.entrypoint = Some(values.to_vec()),
        other => {
            return Err(fail(
                Kind::Config,
                format!(
                    "unknown container option `{other}`; supported: {}",
                    SUPPORTED_OPTIONS.join(", ")
                ),
            ))
        }
    }
    Ok(())
}

/// `512m`, `2g`, `1024k`, `100` (bytes).
fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as i64)
}

fn parse_publish(s: &str) -> Option<(bollard::models::PortBinding, String)> {
    let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, hp, cp) = match parts.as_slice() {
        [hp, cp] => ("", *hp, *cp),
        [ip, hp, cp] => (*ip, *hp, *cp),
        _ => return None,
    };
    hp.parse::<u16>().ok()?;
    cp.parse::<u16>().ok()?;
    Some((
        bollard::models::PortBinding {
            host_ip: (!ip.is_empty()).then(|| ip.to_string()),
            host_port: Some(hp.to_string()),
        },
        format!("{cp}/{proto}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "demo-web-staging-abc".into(),
            image: "dhow/demo:abc".into(),
            service: "demo".into(),
            role: "web".into(),
            destination: Some("staging".into()),
            version: "abc".into(),
            cmd: None,
            env: vec![("A".into(), "1".into())],
            secret_env: vec![("S".into(), SecretString::from("hush"))],
            labels: BTreeMap::from([("team".into(), "x".into())]),
            options: BTreeMap::new(),
            cron: None,
        }
    }

    #[test]
    fn names_dns_cannot_ask_for_get_a_short_alias() {
        assert_eq!(dns_name("demo-web-v1"), "demo-web-v1");
        let long = "demo-web-staging-71bcdd8469b967adaf6f4f56044a625fdb2edc4d--dirty";
        let alias = dns_name(long);
        assert!(alias.len() <= 63, "{alias}");
        assert!(alias.starts_with("demo-web-staging-71bcdd"), "{alias}");
        assert_ne!(alias, dns_name(&format!("{long}x")));
        let body = create_body(&ContainerSpec {
            name: long.into(),
            ..spec()
        })
        .unwrap();
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints[NETWORK].aliases, Some(vec![alias]));
    }

    #[test]
    fn body_has_labels_env_restart_and_network() {
        let b = create_body(&spec()).unwrap();
        let labels = b.labels.unwrap();
        assert_eq!(labels[LABEL_SERVICE], "demo");
        assert_eq!(labels[LABEL_VERSION], "abc");
        assert_eq!(labels["team"], "x");
        let env = b.env.unwrap();
        assert!(env.contains(&"DHOW_VERSION=abc".to_string()));
        assert!(env.contains(&"A=1".to_string()));
        assert!(env.contains(&"S=hush".to_string()));
        assert!(
            !format!("{:?}", spec()).contains("hush"),
            "Debug must not show secrets"
        );
        let hc = b.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some(NETWORK));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
    }

    #[test]
    fn options_map_to_host_config() {
        let mut s = spec();
        s.options.insert("memory".into(), vec!["512m".into()]);
        s.options.insert("cpus".into(), vec!["1.5".into()]);
        s.options
            .insert("add-host".into(), vec!["db:10.0.0.1".into()]);
        s.options
            .insert("publish".into(), vec!["127.0.0.1:9000:9000".into()]);
        let hc = create_body(&s).unwrap().host_config.unwrap();
        assert_eq!(hc.memory, Some(512 << 20));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.extra_hosts.unwrap(), vec!["db:10.0.0.1"]);
        assert!(hc.port_bindings.unwrap().contains_key("9000/tcp"));
    }

    #[test]
    fn unknown_option_is_a_config_error() {
        let mut s = spec();
        s.options.insert("privileged".into(), vec!["true".into()]);
        let err = create_body(&s).unwrap_err();
        assert!(format!("{err}").contains("unknown container option `privileged`"));
    }
}
