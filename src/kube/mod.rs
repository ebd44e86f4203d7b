//! `dhow kube export`: the loaded config (destination merged) as Kubernetes manifests, built
//! from the typed objects of the `k8s-openapi` crate, never hand-written YAML. One file per
//! object kind or concern: `workload.rs` the Deployments of roles (probe, rolling update,
//! resources), `cronjob.rs` the CronJobs of cron roles, `network.rs` the Services and the Ingress, `accessory.rs` the StatefulSets of
//! accessories with their headless Services, `env.rs` the env layers (ConfigMap values and
//! Secret references), `secrets.rs` the ConfigMaps and (only when asked) the Secrets,
//! `notes.rs` what the config says that has no place in the manifests (reported, never
//! dropped silently), `names.rs` Kubernetes names and labels, `yaml.rs` the YAML stream.
//! Uses `config`, `deploy::from_config` (the resolved settings) and `accessory`; nothing here
//! touches a host.

mod accessory;
mod cronjob;
mod env;
mod names;
mod network;
mod notes;
mod secrets;
mod workload;
pub mod yaml;

use crate::config::{Loaded, Selection};
use std::collections::BTreeMap;

/// What the export is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image tag the workloads run.
    pub version: String,
    /// Write Secret objects with the values of the secrets files (otherwise only references).
    pub with_secrets: bool,
}

/// One manifest: its kind and name (for file names) and its JSON form.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: String,
    pub name: String,
    pub value: serde_json::Value,
}

/// The manifests, the Secrets to create by hand (name → keys, when not written) and the
/// notes on what was not exported.
#[derive(Debug, Default)]
pub struct Export {
    pub objects: Vec<Object>,
    pub secrets_to_fill: BTreeMap<String, Vec<String>>,
    pub notes: Vec<String>,
}

impl Export {
    fn push<
        T: serde::Serialize
            + k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    >(
        &mut self,
        o: &T,
    ) -> anyhow::Result<()> {
        self.objects.push(Object {
            kind: T::KIND.to_string(),
            name: o.metadata().name.clone().unwrap_or_default(),
            value: serde_json::to_value(o)?,
        });
        Ok(())
    }

    /// The notes as the lines a person reads first: what to create by hand.
    pub fn fill_lines(&self) -> Vec<String> {
        self.secrets_to_fill
            .iter()
            .map(|(name, keys)| {
                format!(
                    "Secret {name} is referenced, not written (rerun with --with-secrets to write it): create it with the keys {}",
                    keys.join(", ")
                )
            })
            .collect()
    }
}

/// The manifests for the whole config (every role and host, every accessory).
pub fn export(l: &Loaded, opts: &Options) -> anyhow::Result<Export> {
    // The certificate's files are read only to be written into a Secret.
    let s =
        crate::deploy::from_config::settings_reading(l, &Selection::default(), opts.with_secrets)?;
    let k = names::Naming::new(&s.service, s.destination.as_deref())?;
    let mut out = Export::default();
    notes::collect(l, &s, &mut out.notes);
    let image = s.image_ref(&opts.version);
    let pull = secrets::registry(&k, &s, opts.with_secrets, &mut out)?;
    let mut secret_keys: Vec<String> = Vec::new();
    for role in &s.roles {
        let layered = env::role_env(l, &role.name);
        secret_keys.extend(env::secret_names(&layered));
        let cm = secrets::config_map(&k, &role.name, &layered);
        if let Some(cm) = &cm {
            out.push(cm)?;
        }
        let input = workload::RoleInput {
            naming: &k,
            settings: &s,
            role,
            image: &image,
            env: &layered,
            config_map: cm.as_ref().and_then(|c| c.metadata.name.clone()),
            pull_secret: pull.clone(),
        };
        if role.cron.is_some() {
            let job = cronjob::cronjob(&input, &mut out.notes)?;
            out.push(&job)?;
            continue;
        }
        let d = workload::deployment(&input, &mut out.notes)?;
        out.push(&d)?;
        if role.proxied {
            out.push(&network::service(&k, &role.name, s.proxy.app_port))?;
        }
    }
    if let Some(ing) = network::ingress(&k, &s, opts.with_secrets, &mut out)? {
        out.push(&ing)?;
    }
    for a in &s.accessories {
        let layered = env::accessory_env(l, &a.name);
        secret_keys.extend(env::secret_names(&layered));
        let (svc, set) = accessory::objects(&k, a, &layered, &mut out.notes)?;
        out.push(&svc)?;
        out.push(&set)?;
    }
    secret_keys.sort();
    secret_keys.dedup();
    secrets::app_secret(&k, l, &secret_keys, opts.with_secrets, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
