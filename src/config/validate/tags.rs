//! Host tags: every tag on a host in `servers` is a good name, and every `[env.tags.<tag>]`
//! names a tag some host carries, in the merged config or in one of the files read (accessory
//! `tags`, which pick hosts, are checked against the merged config in `accessories.rs`); a tag
//! without env is only a label.

use super::super::locate::{key, Seg};
use super::super::schema::{Config, Servers};
use super::{name_ok, Errors};
use std::collections::BTreeSet;

/// Check the tags; returns every tag some host carries.
pub(super) fn check(c: &Config, e: &mut Errors) -> BTreeSet<String> {
    let mut carried = BTreeSet::new();
    for (base, hosts) in host_lists(c, e) {
        for (i, h) in hosts.iter().enumerate() {
            for (j, t) in h.tags.iter().enumerate() {
                if !name_ok(t) {
                    let mut p = base.clone();
                    p.extend([Seg::Index(i), key("tags"), Seg::Index(j)]);
                    e.add(&p, format!("bad tag \"{t}\": use letters, digits, - and _"));
                }
                carried.insert(t.clone());
            }
        }
    }
    // A tag some host carries in one of the files read counts too: a destination that lists
    // its own hosts keeps the base file's `env.tags` without tagging its hosts alike.
    let mut known = carried.clone();
    for f in e.files {
        if let Ok(fc) = toml::from_str::<Config>(&f.text) {
            let hosts = super::super::select::tagged_roles(&fc);
            known.extend(hosts.into_iter().flat_map(|(_, h)| h).flat_map(|h| h.tags));
        }
    }
    for tag in c.env.iter().flat_map(|env| env.tags.keys()) {
        if !known.contains(tag) {
            e.add(
                &[key("env"), key("tags"), key(tag)],
                not_carried(tag, &known),
            );
        }
    }
    carried
}

/// The message for a tag that no host carries.
pub(super) fn not_carried(tag: &str, carried: &BTreeSet<String>) -> String {
    let known = if carried.is_empty() {
        "no host has tags".to_string()
    } else {
        format!(
            "tags on hosts: {}",
            carried.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    format!(
        "tag \"{tag}\": no host carries it (tag a host in servers: {{ host = \"...\", tags = [\"{tag}\"] }}); {known}"
    )
}

/// Each list of hosts in `servers` with the key path of the list as it is written
/// (`servers`, `servers.<role>.hosts` or `servers.<role>`).
fn host_lists<'a>(
    c: &'a Config,
    e: &Errors,
) -> Vec<(Vec<Seg>, &'a [crate::config::server_host::ServerHost])> {
    match &c.servers {
        Some(Servers::Hosts(h)) => vec![(vec![key("servers")], h.as_slice())],
        Some(Servers::Roles(r)) => r
            .iter()
            .map(|(name, role)| {
                let table = vec![key("servers"), key(name), key("hosts")];
                let written = e.files.iter().any(|f| f.locate(&table).is_some());
                let path = if written {
                    table
                } else {
                    vec![key("servers"), key(name)]
                };
                (path, role.hosts.as_slice())
            })
            .collect(),
        None => Vec::new(),
    }
}
