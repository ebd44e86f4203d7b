//! The mapping of a Kamal config's top level, servers (hosts with their tags) and roles onto
//! dhow's keys. Every key ends up written, converted (and noted), or warned about with its
//! path: nothing is dropped silently. The other sections are in `env.rs`, `sections.rs` and
//! `accessories.rs`.

use super::write::{self, Out};
use super::yaml::Y;
use toml_edit::{Array, InlineTable, Item, Value};

/// Kamal's top-level keys dhow has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "asset_path",
    "hooks_output",
    "error_pages_path",
    "allow_empty_roles",
    "minimum_version",
    "run_directory",
    "readiness_delay",
    "sshkit",
    "logging",
    "output",
    "otel",
    "rollout",
    "healthcheck",
    "traefik",
];

/// Role options dhow's containers take (`docker run` names); the same list as
/// `docker::spec::SUPPORTED_OPTIONS` (a test holds them together; config does not import docker).
pub const OPTIONS: &[&str] = &[
    "add-host",
    "cap-add",
    "cap-drop",
    "cpus",
    "entrypoint",
    "init",
    "log-driver",
    "log-opt",
    "memory",
    "memory-reservation",
    "publish",
    "stop-signal",
    "stop-timeout",
    "ulimit",
    "user",
    "volume",
    "workdir",
];

/// Map a whole file (the base config or a destination's).
pub fn map(root: &Y, out: &mut Out) {
    let Some(entries) = root.map() else {
        out.warn(
            &[],
            "",
            &format!("expected a mapping at the top, got {}", root.kind()),
        );
        return;
    };
    let mut labels = None;
    let mut volumes = None;
    // A role's own proxy settings other than its route are lifted to [proxy] when the file
    // has no `proxy` of its own (wherever it is written).
    let root_proxy = entries.iter().any(|(k, _)| k == "proxy");
    for (k, v) in entries {
        match k.as_str() {
            "service" | "image" | "primary_role" => string(out, &[], k, v),
            "require_destination" => match v {
                Y::Bool(b) => out.set(&[], k, *b),
                other => wrong(out, &[], k, "true or false", other),
            },
            "retain_containers" => match write::integer(v) {
                Some(n) if n >= 0 => out.set(&[], k, n),
                _ => wrong(out, &[], k, "a number", v),
            },
            "deploy_timeout" | "drain_timeout" => duration(out, &[], k, v),
            "servers" => servers(out, v, root_proxy),
            "env" => super::env::env(out, &[], v),
            "labels" => labels = Some(v),
            "volumes" => volumes = Some(v),
            "proxy" => super::sections::proxy(out, &["proxy"], v),
            "registry" => super::sections::registry(out, v),
            "builder" => super::sections::builder(out, v),
            "ssh" => super::sections::ssh(out, v),
            "boot" => super::sections::boot(out, v),
            "aliases" => super::sections::aliases(out, v),
            "accessories" => super::accessories::map(out, v),
            "hooks_path" => out.note(
                &[],
                k,
                "its hooks are copied to hooks/ (dhow's default hooks_path)",
            ),
            "secrets_path" => out.note(&[], k, "its secrets files are copied to .dhow/"),
            _ if k.starts_with("x-") => {
                out.note(&[], k, "a YAML extension block, ignored (as Kamal does)")
            }
            _ if UNSUPPORTED.contains(&k.as_str()) => out.unsupported(&[], k),
            _ => out.unknown(&[], k),
        }
    }
    if let Some(l) = labels {
        spread(out, "labels", l);
    }
    if let Some(v) = volumes {
        spread(out, "volumes", v);
    }
}

/// A value of the wrong type: warned, not written.
pub fn wrong(out: &mut Out, table: &[&str], key: &str, want: &str, got: &Y) {
    out.warn(
        table,
        key,
        &format!("expected {want}, got {}; dropped", got.kind()),
    );
}

/// A string key copied as it is.
pub fn string(out: &mut Out, table: &[&str], key: &str, v: &Y) {
    match v {
        Y::Str(s) => out.set(table, key, s.as_str()),
        Y::Int(_) | Y::Float(_) => out.set(table, key, write::text(v).unwrap_or_default()),
        other => wrong(out, table, key, "a string", other),
    }
}

/// A boolean key copied as it is.
pub fn boolean(out: &mut Out, table: &[&str], key: &str, v: &Y) {
    match v {
        Y::Bool(b) => out.set(table, key, *b),
        other => wrong(out, table, key, "true or false", other),
    }
}

/// Kamal's seconds as a dhow duration.
pub fn duration(out: &mut Out, table: &[&str], key: &str, v: &Y) {
    match write::seconds(v) {
        Some(d) => out.set(table, key, d),
        None => wrong(out, table, key, "a number of seconds", v),
    }
}

/// A table of scalars (labels, args).
pub fn scalars(out: &mut Out, table: &[&str], key: &str, v: &Y) {
    match write::scalar_table(v) {
        Some(t) => out.set(table, key, t),
        None => wrong(out, table, key, "a mapping of plain values", v),
    }
}

/// A host entry of a list: `"1.2.3.4"`, or `{"1.2.3.4": tag(s)}` as `{ host, tags }`.
fn host(out: &mut Out, table: &[&str], at: &str, v: &Y) -> Option<Value> {
    match v {
        Y::Map(m) if m.len() == 1 => {
            let (h, tags) = &m[0];
            let tags = match tags {
                Y::Null => Array::new(),
                other => match write::strings(other) {
                    Some(a) => a,
                    None => {
                        wrong(out, table, at, "a host's tag or list of tags", other);
                        Array::new()
                    }
                },
            };
            if tags.is_empty() {
                return Some(h.as_str().into());
            }
            let mut t = InlineTable::new();
            t.insert("host", h.as_str().into());
            t.insert("tags", Value::Array(tags));
            Some(Value::InlineTable(t))
        }
        other => match write::text(other) {
            Some(h) => Some(h.into()),
            None => {
                wrong(out, table, at, "a host", other);
                None
            }
        },
    }
}

/// A list of hosts.
fn hosts(out: &mut Out, table: &[&str], key: &str, v: &Y) -> Array {
    let items: Vec<&Y> = match v {
        Y::List(l) => l.iter().collect(),
        Y::Null => Vec::new(),
        other => vec![other],
    };
    let mut a = Array::new();
    for (i, h) in items.into_iter().enumerate() {
        if let Some(h) = host(out, table, &format!("{key}[{i}]"), h) {
            a.push(h);
        }
    }
    a
}

fn servers(out: &mut Out, v: &Y, root_proxy: bool) {
    match v {
        Y::List(_) => {
            let hs = hosts(out, &[], "servers", v);
            out.set(&[], "servers", hs);
        }
        Y::Map(roles) => {
            for (name, r) in roles {
                role(out, name, r, root_proxy);
            }
        }
        other => wrong(
            out,
            &[],
            "servers",
            "a list of hosts or a mapping of roles",
            other,
        ),
    }
}

fn role(out: &mut Out, name: &str, v: &Y, root_proxy: bool) {
    let at: &[&str] = &["servers", name];
    let Some(entries) = v.map() else {
        let hs = hosts(out, at, "hosts", v);
        out.set(at, "hosts", hs);
        return;
    };
    for (k, v) in entries {
        match k.as_str() {
            "hosts" => {
                let hs = hosts(out, at, k, v);
                out.set(at, k, hs);
            }
            "cmd" => cmd(out, at, k, v),
            "env" => super::env::env(out, at, v),
            "labels" => scalars(out, at, k, v),
            "options" => options(out, at, v),
            "proxy" => match v {
                Y::Bool(b) => out.set(at, k, *b),
                Y::Map(_) => role_proxy(out, name, v, root_proxy),
                other => wrong(out, at, k, "true, false or a proxy mapping", other),
            },
            "logging" | "asset_path" => out.unsupported(at, k),
            _ => out.unknown(at, k),
        }
    }
    out.table(at).set_implicit(false);
}

/// A role's own proxy settings: its route (host, hosts, path_prefix, strip_path_prefix)
/// becomes the role's own (`servers.<role>.proxy = { ... }`); the others, which dhow takes
/// from `[proxy]` for every role, become `[proxy]` when the file has none, else are warned
/// about.
fn role_proxy(out: &mut Out, role: &str, v: &Y, root_proxy: bool) {
    const ROUTE: [&str; 4] = ["host", "hosts", "path_prefix", "strip_path_prefix"];
    let at = ["servers", role, "proxy"];
    let entries = v.map().unwrap_or_default();
    let (route, others): (Vec<_>, Vec<_>) = entries
        .iter()
        .partition(|(k, _)| ROUTE.contains(&k.as_str()));
    if route.is_empty() {
        out.set(&["servers", role], "proxy", true);
    }
    for (k, val) in &route {
        match k.as_str() {
            "host" | "path_prefix" => string(out, &at, k, val),
            "hosts" => match write::strings(val) {
                Some(a) => out.set(&at, k, a),
                None => wrong(out, &at, k, "a list of host names", val),
            },
            _ => boolean(out, &at, k, val),
        }
    }
    if route.iter().any(|(k, _)| k == "path_prefix")
        && !route.iter().any(|(k, _)| k == "strip_path_prefix")
    {
        out.set(&at, "strip_path_prefix", true);
        out.note(
            &at,
            "strip_path_prefix",
            "set to true: kamal-proxy strips the prefix by default, dhow does not",
        );
    }
    if others.is_empty() {
        return;
    }
    if !root_proxy {
        out.note(
            &["servers", role],
            "proxy",
            "its settings other than the route became [proxy] (dhow takes them from [proxy] for every role)",
        );
        let lifted = Y::Map(others.into_iter().cloned().collect());
        super::sections::proxy(out, &["proxy"], &lifted);
        return;
    }
    for (k, _) in others {
        out.warn(
            &at,
            k,
            "dhow takes this from [proxy] for every role (a role's own route is host, hosts, \
             path_prefix and strip_path_prefix), dropped",
        );
    }
}

/// A command: a string (split by dhow as a shell would) or a list of words.
pub fn cmd(out: &mut Out, table: &[&str], key: &str, v: &Y) {
    match v {
        Y::List(_) => match write::strings(v) {
            Some(a) => out.set(table, key, a),
            None => wrong(out, table, key, "a command", v),
        },
        _ => string(out, table, key, v),
    }
}

/// `docker run` options: the ones dhow applies are copied, the others warned about.
pub fn options(out: &mut Out, table: &[&str], v: &Y) {
    let Some(entries) = v.map() else {
        return wrong(out, table, "options", "a mapping", v);
    };
    let mut t = InlineTable::new();
    let opts: Vec<&str> = table.iter().copied().chain(["options"]).collect();
    for (k, v) in entries {
        if !OPTIONS.contains(&k.as_str()) {
            out.warn(
                &opts,
                k,
                "this docker run option is not supported by dhow, dropped",
            );
            continue;
        }
        let val: Option<Value> = match v {
            Y::List(_) => write::strings(v).map(Value::from),
            other => write::scalar(other),
        };
        match val {
            Some(val) => {
                t.insert(k, val);
            }
            None => wrong(out, &opts, k, "a value or a list of values", v),
        }
    }
    if !t.is_empty() {
        out.set(table, "options", t);
    }
}

/// Kamal's top-level `labels` / `volumes` apply to every role; dhow has them per role (labels,
/// `options.volume`), so they are written into each role of this file.
fn spread(out: &mut Out, key: &str, v: &Y) {
    let extra: Vec<(String, Value)> = match key {
        "labels" => match v.map() {
            Some(m) => m
                .iter()
                .filter_map(|(k, v)| write::scalar(v).map(|s| (k.clone(), s)))
                .collect(),
            None => return wrong(out, &[], key, "a mapping", v),
        },
        _ => match write::strings(v) {
            Some(a) => a
                .iter()
                .map(|s| ("volume".to_string(), s.clone()))
                .collect(),
            None => return wrong(out, &[], key, "a list", v),
        },
    };
    let servers = out.doc.get("servers").cloned();
    let roles: Vec<String> = match &servers {
        Some(Item::Table(t)) => t.iter().map(|(k, _)| k.to_string()).collect(),
        Some(Item::Value(Value::Array(hosts))) => {
            out.doc.remove("servers");
            out.set(&["servers", "web"], "hosts", hosts.clone());
            vec!["web".into()]
        }
        _ => Vec::new(),
    };
    if roles.is_empty() {
        return out.warn(
            &[],
            key,
            "dhow sets these per role, and this file has no servers to put them on; dropped",
        );
    }
    for r in &roles {
        let t = out.table(&["servers", r]);
        let field = if key == "labels" { "labels" } else { "options" };
        let mut inline = t
            .get(field)
            .and_then(Item::as_inline_table)
            .cloned()
            .unwrap_or_default();
        for (k, val) in &extra {
            if key == "labels" {
                if !inline.contains_key(k) {
                    inline.insert(k, val.clone());
                }
            } else {
                let mut list = match inline.get(k) {
                    Some(Value::Array(a)) => a.clone(),
                    Some(one) => Array::from_iter([one.clone()]),
                    None => Array::new(),
                };
                list.push(val.clone());
                inline.insert(k, Value::Array(list));
            }
        }
        t.insert(field, toml_edit::value(inline));
    }
    let into = if key == "labels" {
        "the labels of every role"
    } else {
        "options.volume of every role"
    };
    out.note(&[], key, &format!("copied into {into}"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn options_are_the_ones_docker_spec_applies() {
        assert_eq!(super::OPTIONS, crate::docker::spec::SUPPORTED_OPTIONS);
    }
}
