//! The Deployment of a role: replicas = the role's hosts × its `replicas`, the role's `cmd` as
//! the container's args (it replaces the image's CMD, as on the hosts), its env (clear values
//! from the role's ConfigMap, secrets as `secretKeyRef`s), its labels, `memory`/`cpus` options as resource
//! limits, and a rolling update that never takes a pod away before its replacement is ready
//! (`maxUnavailable: 0`, `maxSurge: 1`: dhow's start-new, check, switch, stop-old). A proxied
//! role also gets its container port (`proxy.app_port`) and the proxy's health check as
//! readiness probe; a worker is checked by running, as dhow checks it.

use super::env::{Layered, Source};
use super::names::{is_label_key, is_label_value, label, Naming};
use crate::deploy::settings::{RoleSettings, Settings};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, EnvVarSource,
    HTTPGetAction, LocalObjectReference, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecretKeySelector,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// What one role's Deployment is made from.
pub struct RoleInput<'a> {
    pub naming: &'a Naming,
    pub settings: &'a Settings,
    pub role: &'a RoleSettings,
    pub image: &'a str,
    pub env: &'a Layered,
    pub config_map: Option<String>,
    pub pull_secret: Option<String>,
}

/// The Deployment of one role.
pub fn deployment(i: &RoleInput, notes: &mut Vec<String>) -> anyhow::Result<Deployment> {
    let k = i.naming;
    let name = k.of(&i.role.name);
    super::names::check(&name, &format!("role {}", i.role.name))?;
    let selector = k.selector(&i.role.name);
    let mut pod_labels = selector.clone();
    for (key, v) in &i.role.labels {
        if is_label_key(key) && is_label_value(v) {
            pod_labels.insert(key.clone(), v.clone());
        } else {
            notes.push(format!(
                "not exported: servers.{}.labels.{key} = {v:?} (not a valid Kubernetes label)",
                i.role.name
            ));
        }
    }
    let p = &i.settings.proxy;
    let mut c = Container {
        name: label(&i.role.name),
        image: Some(i.image.to_string()),
        args: i.role.cmd.clone(),
        env: env_vars(i.env, &k.of("secrets"), false),
        env_from: i.config_map.clone().map(|name| {
            vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name,
                    optional: None,
                }),
                ..Default::default()
            }]
        }),
        resources: resources(&i.role.options),
        ..Default::default()
    };
    if i.role.proxied {
        c.ports = Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(p.app_port),
            ..Default::default()
        }]);
        c.readiness_probe = Some(readiness(
            &p.health_path,
            p.app_port,
            p.health_interval,
            p.health_timeout,
        ));
    }
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(selector.clone()),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some((i.role.hosts.len().max(1) * i.role.replicas.max(1)) as i32),
            revision_history_limit: Some(i.settings.retain as i32),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            strategy: Some(rolling_update()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![c],
                    image_pull_secrets: i
                        .pull_secret
                        .clone()
                        .map(|name| vec![LocalObjectReference { name }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Start one new pod, wait for it to be ready, then take one old pod away.
pub fn rolling_update() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_unavailable: Some(IntOrString::Int(0)),
            max_surge: Some(IntOrString::Int(1)),
        }),
    }
}

/// The proxy's health check as an HTTP readiness probe (whole seconds, at least 1).
pub fn readiness(
    path: &str,
    port: u16,
    interval: std::time::Duration,
    timeout: std::time::Duration,
) -> Probe {
    let secs = |d: std::time::Duration| (d.as_secs_f64().ceil() as i32).max(1);
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        period_seconds: Some(secs(interval)),
        timeout_seconds: Some(secs(timeout)),
        ..Default::default()
    }
}

/// The container's env: secrets as references to `secret`, and clear values inline when
/// `clear_inline` (otherwise they come from a ConfigMap). None when empty.
pub fn env_vars(env: &Layered, secret: &str, clear_inline: bool) -> Option<Vec<EnvVar>> {
    let vars: Vec<EnvVar> = env
        .iter()
        .filter_map(|(var, src)| match src {
            Source::Clear(v) => clear_inline.then(|| EnvVar {
                name: var.clone(),
                value: Some(v.clone()),
                value_from: None,
            }),
            Source::Secret(key) => Some(EnvVar {
                name: var.clone(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.to_string(),
                        key: key.clone(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            }),
        })
        .collect();
    (!vars.is_empty()).then_some(vars)
}

/// The options that are resource limits: `memory` (Docker's `512m` as `512Mi`) and `cpus`.
/// The others are reported by `notes.rs`.
pub fn resources(options: &BTreeMap<String, Vec<String>>) -> Option<ResourceRequirements> {
    let mut limits = BTreeMap::new();
    if let Some(m) = options
        .get("memory")
        .and_then(|v| v.last())
        .and_then(|m| memory(m))
    {
        limits.insert("memory".to_string(), Quantity(m));
    }
    if let Some(c) = options.get("cpus").and_then(|v| v.last()) {
        limits.insert("cpu".to_string(), Quantity(c.clone()));
    }
    (!limits.is_empty()).then(|| ResourceRequirements {
        requests: Some(limits.clone()),
        limits: Some(limits),
        ..Default::default()
    })
}

/// Docker's memory size (`b`, `k`, `m`, `g` suffixes, binary) as a Kubernetes quantity.
pub fn memory(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    num.parse::<u64>().ok().filter(|n| *n > 0)?;
    let suffix = match unit {
        "" | "b" => "",
        "k" | "kb" => "Ki",
        "m" | "mb" => "Mi",
        "g" | "gb" => "Gi",
        _ => return None,
    };
    Some(format!("{num}{suffix}"))
}
