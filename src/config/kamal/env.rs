//! The mapping of Kamal's `env`: a flat mapping (all clear) or `clear` / `secret`, and at the
//! top level `tags` (env per host tag) as `[env.tags.<tag>]`, each tag's env of either shape.
//! A tag no host of the project carries is dropped with a warning (dhow refuses env for a tag
//! no host has, where Kamal ignores it); `tags` in a role's or an accessory's env is dropped, as
//! Kamal refuses it there. Also: which tags the hosts of a Kamal file carry.

use super::map::{scalars, wrong};
use super::write::{self, Out};
use super::yaml::Y;
use std::collections::BTreeSet;

/// `env` of the top level (`table` empty), a role or an accessory.
pub fn env(out: &mut Out, table: &[&str], v: &Y) {
    let at: Vec<&str> = table.iter().copied().chain(["env"]).collect();
    env_at(out, &at, v, table.is_empty());
}

/// An env table at `at`; `top`: the app's own, where `tags` belong.
fn env_at(out: &mut Out, at: &[&str], v: &Y, top: bool) {
    let (parent, name) = at.split_at(at.len() - 1);
    let Some(entries) = v.map() else {
        return wrong(out, parent, name[0], "a mapping", v);
    };
    let structured = entries
        .iter()
        .all(|(k, _)| matches!(k.as_str(), "clear" | "secret" | "tags"));
    if !structured {
        let became = format!("plain variables became {}.clear", at.join("."));
        out.note(parent, name[0], &became);
        return scalars(out, at, "clear", v);
    }
    for (k, v) in entries {
        match k.as_str() {
            "clear" => scalars(out, at, k, v),
            "secret" => match write::strings(v) {
                Some(a) => out.set(at, k, a),
                None => wrong(out, at, k, "a list of secret names", v),
            },
            _ if top => tags(out, v),
            _ => out.warn(
                at,
                k,
                "env tags belong in the top-level env (Kamal allows them nowhere else), dropped",
            ),
        }
    }
}

/// `env.tags`: each tag's env, when some host carries the tag.
fn tags(out: &mut Out, v: &Y) {
    let Some(all) = v.map() else {
        return wrong(out, &["env"], "tags", "a mapping of tags", v);
    };
    for (tag, e) in all {
        if !out.carried_tags.contains(tag) {
            out.warn(
                &["env", "tags"],
                tag,
                &format!(
                    "no host carries tag {tag} (Kamal ignores its env, dhow refuses env for a tag \
                     no host has), dropped"
                ),
            );
            continue;
        }
        env_at(out, &["env", "tags", tag], e, false);
    }
}

/// The tags the hosts of a Kamal file's `servers` carry (`- 1.2.3.4: [a, b]`).
pub fn host_tags(root: &Y) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    let servers = root
        .map()
        .and_then(|m| m.iter().find(|(k, _)| k == "servers"))
        .map(|(_, v)| v);
    let mut lists: Vec<&Y> = Vec::new();
    match servers {
        Some(l @ Y::List(_)) => lists.push(l),
        Some(Y::Map(roles)) => {
            for (_, r) in roles {
                match r {
                    Y::Map(m) => {
                        lists.extend(m.iter().filter(|(k, _)| k == "hosts").map(|(_, v)| v))
                    }
                    other => lists.push(other),
                }
            }
        }
        _ => {}
    }
    for l in lists {
        let Y::List(items) = l else { continue };
        for item in items {
            if let Some([(_, t)]) = item.map() {
                let names = write::strings(t).unwrap_or_default();
                tags.extend(names.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
        }
    }
    tags
}
