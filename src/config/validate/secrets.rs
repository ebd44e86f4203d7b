//! Secret references from every section (`env.secret` at the top, in `env.tags`, roles and
//! accessories, `registry.password`, `builder.secrets`, `ssh.key_data`): each a good name, defined in `.dhow/secrets*`.

use super::super::locate::{key, Seg};
use super::super::schema::{Config, EnvConfig, Servers};
use super::{secret_ref, Errors};
use std::collections::BTreeSet;

/// Check every reference; returns the names of the secrets the config references.
pub(super) fn check(
    c: &Config,
    destination: Option<&str>,
    defined: &crate::config::secrets::Defs,
    e: &mut Errors,
) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    for (path, name) in references(c) {
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            e.add(&path, format!("bad secret name \"{name}\": use NAME or NAME:SECRET_NAME with letters, digits and _"));
        } else if !defined.contains_key(&name) {
            let files = super::super::secrets::files(std::path::Path::new(".dhow"), destination)
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            e.add(
                &path,
                format!("secret {name} is referenced but not defined in {files}"),
            );
        } else {
            needed.insert(name);
        }
    }
    needed
}

/// Every secret reference with the key path it is written at, in config order.
pub(super) fn references(c: &Config) -> Vec<(Vec<Seg>, String)> {
    let mut refs: Vec<(Vec<Seg>, String)> = Vec::new();
    // The secrets of an env table, at `<at>.secret[i]`.
    let env_refs = |env: Option<&EnvConfig>, at: Vec<Seg>, refs: &mut Vec<(Vec<Seg>, String)>| {
        for (i, s) in env.iter().flat_map(|e| e.secret.iter()).enumerate() {
            let mut p = at.clone();
            p.extend([key("secret"), Seg::Index(i)]);
            refs.push((p, secret_ref(s).1.to_string()));
        }
    };
    let base = c.env.as_ref().map(|e| e.base());
    env_refs(base.as_ref(), vec![key("env")], &mut refs);
    if let Some(Servers::Roles(r)) = &c.servers {
        for (name, role) in r {
            let at = vec![key("servers"), key(name), key("env")];
            env_refs(role.env.as_ref(), at, &mut refs);
        }
    }
    for (tag, env) in c.env.iter().flat_map(|e| e.tags.iter()) {
        let at = vec![key("env"), key("tags"), key(tag)];
        env_refs(Some(env), at, &mut refs);
    }
    for (name, a) in c.accessories.iter().flatten() {
        let at = vec![key("accessories"), key(name), key("env")];
        env_refs(a.env.as_ref(), at, &mut refs);
    }
    if let Some(p) = c.registry.as_ref().and_then(|r| r.password.clone()) {
        refs.push((vec![key("registry"), key("password")], p));
    }
    for (i, s) in c.builder.iter().flat_map(|b| b.secrets.iter()).enumerate() {
        refs.push((
            vec![key("builder"), key("secrets"), Seg::Index(i)],
            s.clone(),
        ));
    }
    for (i, s) in c
        .ssh
        .iter()
        .flat_map(|s| s.key_data.iter().flatten())
        .enumerate()
    {
        refs.push((vec![key("ssh"), key("key_data"), Seg::Index(i)], s.clone()));
    }
    refs
}
