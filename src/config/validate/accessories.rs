//! `[accessories.*]`: each has an image, a good name, hosts (directly, or through roles that
//! exist or tags that hosts carry), and well-formed port, directories and files.

use super::super::locate::{key, Seg};
use super::super::schema::{AccessoryConfig, AccessoryFile, Config};
use super::super::types::Publish;
use super::Errors;
use std::collections::BTreeSet;

/// `roles`: the roles of `servers`, as `servers::check` found them; `tags`: the tags its hosts
/// carry.
pub(super) fn check(c: &Config, roles: &[String], tags: &BTreeSet<String>, e: &mut Errors) {
    for (name, a) in c.accessories.iter().flatten() {
        check_one(name, a, roles, e);
        for (i, t) in a.tags.iter().flatten().enumerate() {
            if !tags.contains(t) {
                let at = [key("accessories"), key(name), key("tags"), Seg::Index(i)];
                e.add(&at, super::tags::not_carried(t, tags));
            }
        }
    }
}

fn check_one(name: &str, a: &AccessoryConfig, roles: &[String], e: &mut Errors) {
    let base = [key("accessories"), key(name)];
    if a.image.as_deref().is_none_or(str::is_empty) {
        e.add(&base, format!("accessory {name} needs an image"));
    }
    if a.host.is_none()
        && a.hosts.as_ref().is_none_or(Vec::is_empty)
        && a.roles.as_ref().is_none_or(Vec::is_empty)
        && a.tags.as_ref().is_none_or(Vec::is_empty)
    {
        e.add(
            &base,
            format!("accessory {name} needs host, hosts, roles or tags"),
        );
    }
    for r in a.roles.iter().flatten() {
        if !roles.is_empty() && !roles.iter().any(|x| x == r) {
            e.add(
                &[key("accessories"), key(name), key("roles")],
                format!("role \"{r}\" is not a role in servers"),
            );
        }
    }
    let at = |k: &str| [key("accessories"), key(name), key(k)];
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        e.add(
            &base,
            format!("accessory name \"{name}\": use letters, digits, - and _"),
        );
    }
    if super::dash_at_edge(name) {
        e.add(&base, super::dash_at_edge_message("accessory name", name));
    }
    if let Some(p) = &a.port {
        if Publish::parse(&p.0).is_none() {
            e.add(
                &at("port"),
                format!(
                    "bad port \"{}\": expected PORT, HOSTPORT:PORT or ADDRESS:HOSTPORT:PORT (optionally /udp)",
                    p.0
                ),
            );
        }
    }
    for d in &a.directories {
        if !d
            .split_once(':')
            .is_some_and(|(h, c)| !h.is_empty() && c.starts_with('/'))
        {
            e.add(
                &at("directories"),
                format!("bad directory \"{d}\": expected HOST_DIR:/path/in/container"),
            );
        } else if let Some(why) = d.split_once(':').and_then(|(h, _)| reserved_dir(h)) {
            e.add(&at("directories"), format!("bad directory \"{d}\": {why}"));
        }
    }
    for (local, f) in &a.files {
        check_file(&at("files"), local, f, e);
    }
}

/// Why a relative host directory may not hold data (None when it may): it would lie in the
/// folder of uploaded files, which `accessory remove` deletes, or outside the accessory's
/// own directory. Absolute directories are the user's to choose.
fn reserved_dir(host_dir: &str) -> Option<String> {
    if host_dir.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = host_dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    match parts.first() {
        None => Some("the accessory's own directory cannot be a data directory; name a folder in it, e.g. data:/var/lib/data".into()),
        Some(&"files") => Some(format!(
            "\"{host_dir}\" is where dhow keeps the accessory's uploaded files, which `accessory remove` deletes; use another name, e.g. data:/..."
        )),
        _ if parts.contains(&"..") => Some(format!(
            "\"{host_dir}\" leaves the accessory's directory; use a name inside it or an absolute path"
        )),
        _ => None,
    }
}

/// One `files` entry: an absolute path in the container, an octal mode, a numeric owner.
fn check_file(path_key: &[Seg], local: &str, f: &AccessoryFile, e: &mut Errors) {
    let (path, mode, owner) = match f {
        AccessoryFile::Path(p) => (p, None, None),
        AccessoryFile::Full(t) => (&t.path, t.mode.as_ref(), t.owner.as_ref()),
    };
    if !path.starts_with('/') {
        e.add(
            path_key,
            format!("{local}: the path in the container must be absolute, got \"{path}\""),
        );
    }
    if mode.is_some_and(|m| super::super::accessories::parse_mode(m).is_none()) {
        e.add(
            path_key,
            format!("{local}: mode must be octal like \"0640\""),
        );
    }
    if owner.is_some_and(|o| {
        !o.split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            || o.split(':').count() > 2
    }) {
        e.add(
            path_key,
            format!("{local}: owner must be numeric UID or UID:GID as the container sees it"),
        );
    }
}
