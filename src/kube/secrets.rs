//! The env's values as objects: a ConfigMap per role for its clear env, and the Secrets (the
//! app's secrets keyed by secret name, the registry login, the TLS certificate), written with
//! their values only under `--with-secrets` (the typed `ByteString`, base64 on output);
//! otherwise each is only referenced and listed in `Export::secrets_to_fill` with its keys.
//! A secret value is never printed without the flag.

use super::env::{Layered, Source};
use super::names::Naming;
use super::Export;
use crate::config::Loaded;
use crate::deploy::settings::Settings;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

/// The ConfigMap of a role's clear env; none when it has none.
pub fn config_map(k: &Naming, role: &str, env: &Layered) -> Option<ConfigMap> {
    let data: BTreeMap<String, String> = env
        .iter()
        .filter_map(|(var, s)| match s {
            Source::Clear(v) => Some((var.clone(), v.clone())),
            Source::Secret(_) => None,
        })
        .collect();
    (!data.is_empty()).then(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(k.of(&format!("{role}-env"))),
            labels: Some(k.selector(role)),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    })
}

fn secret(k: &Naming, name: &str, type_: &str, data: BTreeMap<String, ByteString>) -> Secret {
    let mut labels = k.selector("secrets");
    labels.remove("app.kubernetes.io/component");
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some(type_.to_string()),
        data: Some(data),
        ..Default::default()
    }
}

/// The app's Secret (`<prefix>-secrets`): every secret the roles and accessories read, keyed
/// by its name in `.dhow/secrets*`.
pub fn app_secret(
    k: &Naming,
    l: &Loaded,
    keys: &[String],
    with_secrets: bool,
    out: &mut Export,
) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let name = k.of("secrets");
    if !with_secrets {
        out.secrets_to_fill.insert(name, keys.to_vec());
        return Ok(());
    }
    let data = keys
        .iter()
        .filter_map(|key| {
            l.secrets.get(key).map(|v| {
                (
                    key.clone(),
                    ByteString(v.expose_secret().as_bytes().to_vec()),
                )
            })
        })
        .collect();
    out.push(&secret(k, &name, "Opaque", data))
}

/// The registry login as an image pull Secret (`<prefix>-registry`); its name, or none
/// without a registry.
pub fn registry(
    k: &Naming,
    s: &Settings,
    with_secrets: bool,
    out: &mut Export,
) -> anyhow::Result<Option<String>> {
    let Some(r) = &s.registry else {
        return Ok(None);
    };
    let name = k.of("registry");
    let key = ".dockerconfigjson".to_string();
    match (&r.password, with_secrets) {
        (Some(p), true) => {
            use base64::Engine;
            let auth = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                r.username,
                p.expose_secret()
            ));
            let json = serde_json::json!({"auths": {&r.server: {
                "username": r.username, "password": p.expose_secret(), "auth": auth}}});
            let data = BTreeMap::from([(key, ByteString(json.to_string().into_bytes()))]);
            out.push(&secret(k, &name, "kubernetes.io/dockerconfigjson", data))?;
        }
        _ => {
            out.secrets_to_fill.insert(
                name.clone(),
                vec![format!("{key} (type kubernetes.io/dockerconfigjson: kubectl create secret docker-registry {name} --docker-server={})", r.server)],
            );
        }
    }
    Ok(Some(name))
}

/// The certificate the Ingress serves: from `proxy.ssl_certificate` with `--with-secrets`;
/// otherwise (or with ACME) a Secret to create.
pub fn tls(
    k: &Naming,
    s: &Settings,
    name: &str,
    with_secrets: bool,
    out: &mut Export,
) -> anyhow::Result<()> {
    match (&s.proxy.tls, with_secrets) {
        (Some(files), true) => {
            let data = BTreeMap::from([
                (
                    "tls.crt".to_string(),
                    ByteString(files.cert_pem.clone().into_bytes()),
                ),
                (
                    "tls.key".to_string(),
                    ByteString(files.key_pem.expose_secret().as_bytes().to_vec()),
                ),
            ]);
            out.push(&secret(k, name, "kubernetes.io/tls", data))
        }
        (Some(_), false) => {
            out.secrets_to_fill.insert(
                name.to_string(),
                vec![format!("tls.crt, tls.key (type kubernetes.io/tls: kubectl create secret tls {name} --cert=CERT --key=KEY, from proxy.ssl_certificate and proxy.ssl_private_key)")],
            );
            Ok(())
        }
        (None, _) => {
            out.secrets_to_fill.insert(
                name.to_string(),
                vec!["tls.crt, tls.key (type kubernetes.io/tls; dhow used ACME here: let the cluster's certificate issuer, e.g. cert-manager, fill it)".to_string()],
            );
            Ok(())
        }
    }
}
