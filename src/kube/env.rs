//! The env of a role's (or accessory's) containers as Kubernetes takes it: the app's `[env]`
//! and the role's `env` layered as dhow layers them on an untagged host (`deploy::role_env`),
//! each variable either a clear value (for the ConfigMap) or the name of the secret that sets
//! it (a `secretKeyRef` to the app's Secret, keyed by secret name). Per-host tag env has no
//! place in a Deployment: `notes.rs` reports it.

use crate::config::schema::{EnvConfig, Servers};
use crate::config::validate::secret_ref;
use crate::config::Loaded;
use std::collections::BTreeMap;

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Clear(String),
    /// The secret's name in `.dhow/secrets*` (the key in the app's Secret).
    Secret(String),
}

/// Variable → source, later layers replacing earlier ones (clear or secret alike).
pub type Layered = BTreeMap<String, Source>;

fn layer(into: &mut Layered, e: &EnvConfig) {
    for (k, v) in &e.clear {
        into.insert(k.clone(), Source::Clear(v.0.clone()));
    }
    for s in &e.secret {
        let (var, from) = secret_ref(s);
        into.insert(var.to_string(), Source::Secret(from.to_string()));
    }
}

/// The app's env with the role's over it.
pub fn role_env(l: &Loaded, role: &str) -> Layered {
    let mut out = Layered::new();
    if let Some(app) = &l.config.env {
        layer(&mut out, &app.base());
    }
    if let Some(Servers::Roles(r)) = &l.config.servers {
        if let Some(e) = r.get(role).and_then(|rc| rc.env.as_ref()) {
            layer(&mut out, e);
        }
    }
    out
}

/// An accessory's own env (accessories do not take the app's).
pub fn accessory_env(l: &Loaded, name: &str) -> Layered {
    let mut out = Layered::new();
    if let Some(e) = l
        .config
        .accessories
        .as_ref()
        .and_then(|m| m.get(name))
        .and_then(|a| a.env.as_ref())
    {
        layer(&mut out, e);
    }
    out
}

/// The secret names a layered env reads.
pub fn secret_names(l: &Layered) -> Vec<String> {
    l.values()
        .filter_map(|s| match s {
            Source::Secret(n) => Some(n.clone()),
            Source::Clear(_) => None,
        })
        .collect()
}
