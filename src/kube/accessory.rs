//! An accessory as a StatefulSet (one replica: an accessory on several hosts is several
//! independent instances in dhow, reported by `notes.rs`) with a volume claim per directory
//! and per named volume, and a headless Service named like the accessory's container, so the
//! host name the app uses on dhow's network (`<service>-<accessory>[-<destination>]`) resolves
//! the same in the cluster. Image, cmd (as args), env and port carry over.

use super::env::Layered;
use super::names::{check, label, Naming};
use crate::accessory::AccessorySettings;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec,
    PodTemplateSpec, Service, ServicePort, ServiceSpec, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// The size each volume claim asks for (the config has no size; edit to fit).
pub const CLAIM_SIZE: &str = "1Gi";

/// The headless Service and the StatefulSet of one accessory.
pub fn objects(
    k: &Naming,
    a: &AccessorySettings,
    env: &Layered,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Service, StatefulSet)> {
    let name = label(&a.container);
    check(&name, &format!("accessory {}", a.name))?;
    let component = format!("accessory-{}", a.name);
    let selector = k.selector(&component);
    let meta = ObjectMeta {
        name: Some(name.clone()),
        labels: Some(selector.clone()),
        ..Default::default()
    };
    let port = a.port.as_ref().map(|p| p.container_port);
    let proto = a.port.as_ref().map(|p| p.proto.to_ascii_uppercase());
    let svc = Service {
        metadata: meta.clone(),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector.clone()),
            ports: port.map(|p| {
                vec![ServicePort {
                    name: Some("main".into()),
                    port: i32::from(p),
                    target_port: Some(IntOrString::Int(i32::from(p))),
                    protocol: proto.clone(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (mounts, claims) = volumes(a, notes);
    let container = Container {
        name: label(&a.name),
        image: Some(a.image.clone()),
        args: a.cmd.clone(),
        env: super::workload::env_vars(env, &k.of("secrets"), true),
        ports: port.map(|p| {
            vec![ContainerPort {
                name: Some("main".into()),
                container_port: i32::from(p),
                protocol: proto.clone(),
                ..Default::default()
            }]
        }),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    let set = StatefulSet {
        metadata: meta,
        spec: StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(selector),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            volume_claim_templates: (!claims.is_empty()).then_some(claims),
            ..Default::default()
        },
        ..Default::default()
    };
    Ok((svc, set))
}

/// A mount and a claim per directory (`data:/var/lib/...`) and per named volume; a volume
/// that is a host path has no claim to become: noted.
fn volumes(
    a: &AccessorySettings,
    notes: &mut Vec<String>,
) -> (Vec<VolumeMount>, Vec<PersistentVolumeClaim>) {
    let mut named: Vec<(String, String)> = Vec::new();
    for (host, path) in &a.directories {
        named.push((host.clone(), path.clone()));
    }
    for v in &a.volumes {
        let mut parts = v.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(src), Some(path)) if !src.starts_with('/') && !src.starts_with('.') => {
                named.push((src.to_string(), path.to_string()));
            }
            _ => notes.push(format!(
                "not exported: accessories.{}.volumes {v:?} (a host path has no volume claim; use a directory or a named volume)",
                a.name
            )),
        }
    }
    let mut mounts = Vec::new();
    let mut claims = Vec::new();
    for (src, path) in named {
        let claim = claim_name(&src);
        mounts.push(VolumeMount {
            name: claim.clone(),
            mount_path: path,
            ..Default::default()
        });
        claims.push(PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(claim),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity(CLAIM_SIZE.into()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    (mounts, claims)
}

/// A directory's or volume's name as a claim name (`pg/data` → `pg-data`).
fn claim_name(src: &str) -> String {
    let s: String = label(src)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "data".into()
    } else {
        s
    }
}
