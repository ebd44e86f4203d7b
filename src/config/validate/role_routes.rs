//! Proxied roles' routes: a role's own `proxy = { host, hosts, path_prefix, strip_path_prefix }`
//! (names and a path prefix like `[proxy]`'s), and no two proxied roles taking the same hosts
//! and path (the proxy would send that traffic to one of them; the other would never get any).

use super::super::locate::key;
use super::super::schema::{Config, Servers};
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    let Some(Servers::Roles(roles)) = &c.servers else {
        return;
    };
    let proxy = c.proxy.clone().unwrap_or_default();
    let base_hosts: Vec<String> = proxy
        .host
        .iter()
        .chain(proxy.hosts.iter().flatten())
        .cloned()
        .collect();
    let base_prefixes: Vec<String> = match (&proxy.path_prefix, &proxy.path_prefixes) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(list)) => list.clone(),
        (None, None) => Vec::new(),
    };
    let primary = c
        .primary_role
        .clone()
        .or_else(|| roles.contains_key("web").then(|| "web".to_string()))
        .or_else(|| roles.keys().next().cloned());
    let mut taken: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for (name, role) in roles {
        let at = |k: &str| [key("servers"), key(name), key("proxy"), key(k)];
        if let Some(r) = &role.route {
            let hosts: Vec<&String> = r.host.iter().chain(r.hosts.iter().flatten()).collect();
            if r.hosts.as_ref().is_some_and(|h| h.is_empty()) {
                e.add(
                    &at("hosts"),
                    "hosts is empty: give at least one host name, or remove it",
                );
            }
            for h in hosts {
                if h.is_empty() || h.contains(char::is_whitespace) || h.contains('/') {
                    e.add(&at("host"), format!("bad host name \"{h}\""));
                }
            }
            if let Some(p) = &r.path_prefix {
                if !p.starts_with('/') || p.trim_end_matches('/').is_empty() {
                    e.add(
                        &at("path_prefix"),
                        format!("path prefix \"{p}\" must start with / and name a path"),
                    );
                }
            }
        }
        let proxied = role.proxy.unwrap_or(
            role.schedule.is_none() && (name == "web" || Some(name) == primary.as_ref()),
        );
        // A cron role is never proxied (cron_roles.rs says so when it is asked to be).
        if !proxied || role.schedule.is_some() {
            continue;
        }
        let r = role.route.clone().unwrap_or_default();
        let mut hosts: Vec<String> = match (&r.host, &r.hosts) {
            (None, None) => base_hosts.clone(),
            (h, hs) => h.iter().chain(hs.iter().flatten()).cloned().collect(),
        };
        hosts.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        hosts.sort();
        let mut prefixes = r
            .path_prefix
            .map_or_else(|| base_prefixes.clone(), |p| vec![p]);
        prefixes.sort();
        if let Some((other, _, _)) = taken.iter().find(|(_, h, p)| *h == hosts && *p == prefixes) {
            e.add(
                &[key("servers"), key(name)],
                format!(
                    "roles {other} and {name} are both proxied on the same hosts and path: \
                     give {name} a route of its own (proxy = {{ host = \"...\" }} or \
                     {{ path_prefix = \"/...\" }}), or proxy = false"
                ),
            );
        }
        taken.push((name.clone(), hosts, prefixes));
    }
}
