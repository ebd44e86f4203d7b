//! The mapping of Kamal's `accessories`: image, where (host/hosts/role/roles/tag/tags), cmd,
//! port, env, labels, options, volumes, network, and `files` / `directories` from Kamal's
//! `local:remote` strings (or tables) to dhow's shapes. ERB files and mount options are warned
//! about.

use super::env::env;
use super::map::{cmd, options, scalars, string, wrong};
use super::write::{self, Out};
use super::yaml::Y;
use toml_edit::{Array, InlineTable, Value};

pub fn map(out: &mut Out, v: &Y) {
    let Some(all) = v.map() else {
        return wrong(out, &[], "accessories", "a mapping", v);
    };
    for (name, a) in all {
        accessory(out, name, a);
    }
}

fn accessory(out: &mut Out, name: &str, v: &Y) {
    let at: &[&str] = &["accessories", name];
    let Some(kv) = v.map() else {
        return wrong(out, &["accessories"], name, "a mapping", v);
    };
    out.table(at).set_implicit(false);
    let mut roles = Array::new();
    let mut tagged = Array::new();
    for (k, v) in kv {
        match k.as_str() {
            "image" | "host" => string(out, at, k, v),
            "hosts" | "volumes" => match write::strings(v) {
                Some(a) => out.set(at, k, a),
                None => wrong(out, at, k, "a list", v),
            },
            "role" | "roles" => match write::strings(v) {
                Some(a) => roles.extend(a),
                None => wrong(out, at, k, "role names", v),
            },
            "tag" | "tags" => match write::strings(v) {
                Some(a) => tags(out, at, k, a, &mut tagged),
                None => wrong(out, at, k, "tag names", v),
            },
            "cmd" => cmd(out, at, k, v),
            "port" => match write::text(v) {
                Some(p) => out.set(at, k, p),
                None => wrong(out, at, k, "a port mapping", v),
            },
            "env" => env(out, at, v),
            "labels" => scalars(out, at, k, v),
            "options" => options(out, at, v),
            "network" => match v.str() {
                Some("kamal") => out.note(
                    at,
                    k,
                    "Kamal's own network; dhow's accessories join its \"dhow\" network",
                ),
                _ => string(out, at, k, v),
            },
            "files" => files(out, at, v),
            "directories" => directories(out, at, v),
            "service" | "registry" | "proxy" => out.unsupported(at, k),
            _ => out.unknown(at, k),
        }
    }
    if !roles.is_empty() {
        out.set(at, "roles", roles);
    }
    if !tagged.is_empty() {
        out.set(at, "tags", tagged);
    }
}

/// Kamal's `tag` / `tags`: those some host carries (the others would make dhow refuse the file).
fn tags(out: &mut Out, at: &[&str], key: &str, names: Array, tagged: &mut Array) {
    for t in names.iter().filter_map(|v| v.as_str()) {
        if out.carried_tags.contains(t) {
            tagged.push(t);
        } else {
            out.warn(
                at,
                key,
                &format!("no host carries tag {t} (dhow refuses a tag no host has), dropped"),
            );
        }
    }
}

/// `local:remote[:options]` or `{local, remote, mode, owner, options}`: the local path, the
/// remote one, and what does not carry over.
struct Mount {
    local: String,
    remote: String,
    mode: Option<String>,
    owner: Option<String>,
    options: Option<String>,
}

fn mount(v: &Y) -> Option<Mount> {
    match v {
        Y::Str(s) => {
            let mut parts = s.splitn(3, ':');
            let local = parts.next()?.to_string();
            let remote = parts.next()?.to_string();
            Some(Mount {
                local,
                remote,
                mode: None,
                owner: None,
                options: parts.next().map(str::to_string),
            })
        }
        Y::Map(m) => {
            let get = |key: &str| {
                m.iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, v)| write::text(v))
            };
            Some(Mount {
                local: get("local")?,
                remote: get("remote")?,
                mode: get("mode"),
                owner: get("owner"),
                options: get("options"),
            })
        }
        _ => None,
    }
}

fn files(out: &mut Out, at: &[&str], v: &Y) {
    let Y::List(list) = v else {
        return wrong(out, at, "files", "a list", v);
    };
    let fat: Vec<&str> = at.iter().copied().chain(["files"]).collect();
    let mut t = InlineTable::new();
    for (i, f) in list.iter().enumerate() {
        let key = format!("[{i}]");
        let Some(m) = mount(f) else {
            wrong(out, &fat, &key, "local:remote or {local, remote}", f);
            continue;
        };
        if m.local.ends_with(".erb") {
            out.warn(
                &fat,
                &key,
                &format!(
                    "{} is an ERB template, which dhow does not evaluate: rewrite it with \
                     ${{NAME}} for the accessory's env values and set template = true; copied \
                     as a plain file",
                    m.local
                ),
            );
        }
        if let Some(o) = &m.options {
            out.warn(
                &fat,
                &key,
                &format!("mount option `{o}` is not supported by dhow, dropped"),
            );
        }
        let owner = m.owner.filter(|o| {
            let numeric = o
                .split(':')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && o.split(':').count() <= 2;
            if !numeric {
                out.warn(
                    &fat,
                    &key,
                    &format!(
                        "owner `{o}`: dhow takes a numeric UID[:GID] (as the container sees it); \
                         dropped"
                    ),
                );
            }
            numeric
        });
        let val: Value = if m.mode.is_none() && owner.is_none() {
            m.remote.into()
        } else {
            let mut full = InlineTable::new();
            full.insert("path", m.remote.into());
            if let Some(mode) = m.mode {
                full.insert("mode", mode.into());
            }
            if let Some(owner) = owner {
                full.insert("owner", owner.into());
            }
            full.into()
        };
        t.insert(&m.local, val);
    }
    out.set(at, "files", t);
}

fn directories(out: &mut Out, at: &[&str], v: &Y) {
    let Y::List(list) = v else {
        return wrong(out, at, "directories", "a list", v);
    };
    let dat: Vec<&str> = at.iter().copied().chain(["directories"]).collect();
    let mut a = Array::new();
    for (i, d) in list.iter().enumerate() {
        let key = format!("[{i}]");
        let Some(m) = mount(d) else {
            wrong(out, &dat, &key, "local:remote or {local, remote}", d);
            continue;
        };
        for (what, val) in [
            ("mode", &m.mode),
            ("owner", &m.owner),
            ("mount option", &m.options),
        ] {
            if let Some(val) = val {
                out.warn(
                    &dat,
                    &key,
                    &format!("{what} `{val}` is not supported by dhow for directories, dropped"),
                );
            }
        }
        a.push(format!("{}:{}", m.local, m.remote));
    }
    out.set(at, "directories", a);
}
