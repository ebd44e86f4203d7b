//! The mapping of Kamal's `proxy`, `registry`, `builder`, `ssh`, `boot` and `aliases` sections
//! onto dhow's: same names where dhow has them, seconds turned into durations, secrets by name,
//! and a warning for each key dhow has no equivalent for.

use super::map::{boolean, duration, scalars, string, wrong};
use super::write::{self, Out};
use super::yaml::Y;

fn entries<'a>(out: &mut Out, table: &[&str], v: &'a Y) -> &'a [(String, Y)] {
    match v.map() {
        Some(m) => m,
        None => {
            let (key, parent) = table.split_last().map_or(("", &[][..]), |(k, p)| (*k, p));
            wrong(out, parent, key, "a mapping", v);
            &[]
        }
    }
}

/// `proxy` (the app's route), also a role's own proxy settings lifted to `[proxy]`.
pub fn proxy(out: &mut Out, at: &[&str], v: &Y) {
    let kv = entries(out, at, v);
    let own_cert = kv
        .iter()
        .any(|(k, _)| k == "certificate_pem" || k == "private_key_pem")
        || matches!(kv.iter().find(|(k, _)| k == "ssl"), Some((_, Y::Map(_))));
    let mut prefix_strip = None;
    for (k, v) in kv {
        match k.as_str() {
            // kamal-proxy takes `host: a.example.com,b.example.com` as two host names.
            "host" if v.str().is_some_and(|h| h.contains(',')) => {
                let hosts: toml_edit::Array = v
                    .str()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect();
                out.set(at, "hosts", hosts);
                out.note(at, k, "a comma list, became proxy.hosts");
            }
            "host" | "path_prefix" => string(out, at, k, v),
            "hosts" => match write::strings(v) {
                Some(a) => out.set(at, k, a),
                None => wrong(out, at, k, "a list of host names", v),
            },
            "app_port" => match write::integer(v) {
                Some(p) if (1..=65535).contains(&p) => out.set(at, k, p),
                _ => wrong(out, at, k, "a port number", v),
            },
            "ssl" if own_cert => out.warn(
                at,
                k,
                "with a certificate from secrets: dhow reads ssl_certificate and ssl_private_key \
                 from local PEM files, not secrets; write those two keys, dropped",
            ),
            "ssl" => boolean(out, at, k, v),
            "certificate_pem" | "private_key_pem" => out.warn(
                at,
                k,
                "a secret holding a PEM: dhow reads ssl_certificate / ssl_private_key from local \
                 files instead; dropped",
            ),
            "strip_path_prefix" => {
                prefix_strip = Some(());
                boolean(out, at, k, v)
            }
            "response_timeout" => duration(out, at, k, v),
            "healthcheck" => healthcheck(out, at, v),
            "buffering" => buffering(out, at, v),
            "forward_headers" => out.warn(
                at,
                k,
                "not supported by dhow, dropped (proxy.trusted_proxies says whose forwarding \
                 headers to keep)",
            ),
            "ssl_redirect" | "logging" | "run" | "error_pages_path" => out.unsupported(at, k),
            _ => out.unknown(at, k),
        }
    }
    if kv.iter().any(|(k, _)| k == "path_prefix") && prefix_strip.is_none() {
        out.set(at, "strip_path_prefix", true);
        out.note(
            at,
            "strip_path_prefix",
            "set to true: kamal-proxy strips the prefix by default, dhow does not",
        );
    }
    if !kv.iter().any(|(k, _)| k == "buffering") {
        out.note(
            at,
            "buffering",
            "kamal-proxy buffers requests and responses by default (spilling to disk); \
             dhow-proxy streams them unless [proxy.buffering] says otherwise, and never spills",
        );
    }
}

fn healthcheck(out: &mut Out, proxy: &[&str], v: &Y) {
    let at: Vec<&str> = proxy.iter().copied().chain(["healthcheck"]).collect();
    for (k, v) in entries(out, &at, v) {
        match k.as_str() {
            "path" => string(out, &at, k, v),
            "interval" | "timeout" => duration(out, &at, k, v),
            "cmd" | "port" | "max_attempts" | "log_lines" => out.unsupported(&at, k),
            _ => out.unknown(&at, k),
        }
    }
}

fn buffering(out: &mut Out, proxy: &[&str], v: &Y) {
    let at: Vec<&str> = proxy.iter().copied().chain(["buffering"]).collect();
    for (k, v) in entries(out, &at, v) {
        match k.as_str() {
            "requests" | "responses" => boolean(out, &at, k, v),
            "max_request_body" | "max_response_body" | "memory" => match write::integer(v) {
                Some(n) if n >= 0 => out.set(&at, k, n),
                _ => wrong(out, &at, k, "a number of bytes", v),
            },
            _ => out.unknown(&at, k),
        }
    }
    out.note(
        &at,
        "memory",
        "dhow-proxy never spills bodies to disk: a buffered body over `memory` is refused (413 / \
         502), so raise it to your largest upload",
    );
}

/// `registry`: server, username, and the password as the name of a secret.
pub fn registry(out: &mut Out, v: &Y) {
    let at: &[&str] = &["registry"];
    let kv = entries(out, at, v);
    let user = kv.iter().find(|(k, _)| k == "username").map(|(_, v)| v);
    match user {
        Some(Y::Str(_)) => {}
        Some(Y::List(l)) => {
            let name = l.first().and_then(write::text).unwrap_or_default();
            out.warn(
                &[],
                "registry.username",
                &format!(
                    "read from the secret {name}; dhow needs a plain registry.username, so \
                     [registry] is left out (add it with the user name; without it images go to \
                     the hosts over SSH)"
                ),
            );
            return;
        }
        _ => {
            out.warn(
                &[],
                "registry",
                "no username; dhow needs registry.username, so [registry] is left out (without \
                 it images go to the hosts over SSH)",
            );
            return;
        }
    }
    let mut server = false;
    for (k, v) in kv {
        match k.as_str() {
            "server" => {
                server = true;
                string(out, at, k, v)
            }
            "username" => string(out, at, k, v),
            "password" => match v {
                Y::List(l) if l.len() == 1 && l[0].str().is_some() => {
                    out.set(at, k, l[0].str().unwrap_or_default())
                }
                Y::Str(_) => out.warn(
                    at,
                    k,
                    "a password written in the config is not copied; put it in .dhow/secrets \
                     (e.g. REGISTRY_PASSWORD=...) and set registry.password = \"REGISTRY_PASSWORD\"",
                ),
                other => wrong(out, at, k, "[SECRET_NAME]", other),
            },
            _ => out.unknown(at, k),
        }
    }
    if !server {
        out.set(at, "server", "docker.io");
        out.note(at, "server", "Kamal's default, Docker Hub (docker.io)");
    }
}

/// `builder`: arch, context, dockerfile, target, args, secrets.
pub fn builder(out: &mut Out, v: &Y) {
    let at: &[&str] = &["builder"];
    for (k, v) in entries(out, at, v) {
        match k.as_str() {
            "arch" => arch(out, v),
            "context" => {
                string(out, at, k, v);
                out.set(at, "context_source", "working-tree");
                out.note(
                    at,
                    "context_source",
                    "\"working-tree\": Kamal builds a set context from the files on disk, not \
                     from a clean clone of the commit",
                );
            }
            "dockerfile" | "target" => string(out, at, k, v),
            "args" => scalars(out, at, k, v),
            "secrets" => match write::strings(v) {
                Some(a) => out.set(at, k, a),
                None => wrong(out, at, k, "a list of secret names", v),
            },
            "driver" | "remote" | "local" | "cache" | "ssh" | "provenance" | "sbom" | "pack"
            | "options" => out.unsupported(at, k),
            _ => out.unknown(at, k),
        }
    }
}

fn arch(out: &mut Out, v: &Y) {
    let list: Vec<String> = match v {
        Y::List(l) => l.iter().filter_map(write::text).collect(),
        other => write::text(other).into_iter().collect(),
    };
    match list.as_slice() {
        [] => wrong(out, &["builder"], "arch", "an architecture", v),
        [one] => out.set(&["builder"], "arch", one.as_str()),
        [first, ..] => {
            out.set(&["builder"], "arch", first.as_str());
            out.warn(
                &["builder"],
                "arch",
                &format!(
                    "dhow builds for one platform; multi-arch {} became {first}",
                    list.join("+")
                ),
            );
        }
    }
}

/// `ssh`: user, port, proxy (jump host), keys, config; keys_only becomes use_agent = false.
pub fn ssh(out: &mut Out, v: &Y) {
    let at: &[&str] = &["ssh"];
    for (k, v) in entries(out, at, v) {
        match k.as_str() {
            "user" | "proxy" => string(out, at, k, v),
            "port" => match write::integer(v) {
                Some(p) if (1..=65535).contains(&p) => out.set(at, k, p),
                _ => wrong(out, at, k, "a port number", v),
            },
            "keys" => match write::strings(v) {
                Some(a) => out.set(at, k, a),
                None => wrong(out, at, k, "a list of key files", v),
            },
            "keys_only" => match v {
                Y::Bool(b) => {
                    out.set(at, "use_agent", !b);
                    out.note(at, k, &format!("became use_agent = {}", !b));
                }
                other => wrong(out, at, k, "true or false", other),
            },
            "config" => match v {
                Y::Bool(b) => out.set(at, k, *b),
                Y::Str(s) => out.set(at, k, s.as_str()),
                other => wrong(out, at, k, "true, false or a file", other),
            },
            // The values are private keys: never echoed, not even in this warning.
            "key_data" => out.warn(
                at,
                k,
                "private keys written in the config are not copied; put each in .dhow/secrets \
                 and list their names in ssh.key_data",
            ),
            "proxy_command" | "log_level" => out.unsupported(at, k),
            _ => out.unknown(at, k),
        }
    }
}

/// `boot`: limit (hosts or a percentage) and wait (seconds).
pub fn boot(out: &mut Out, v: &Y) {
    let at: &[&str] = &["boot"];
    for (k, v) in entries(out, at, v) {
        match (k.as_str(), v) {
            ("limit", _) if write::integer(v).is_some_and(|n| n > 0) => {
                out.set(at, k, write::integer(v).unwrap_or_default())
            }
            ("limit", Y::Str(s)) if s.ends_with('%') => out.set(at, k, s.as_str()),
            ("limit", other) => wrong(out, at, k, "a number of hosts or a percentage", other),
            ("wait", _) => duration(out, at, k, v),
            _ => out.unknown(at, k),
        }
    }
}

/// `aliases`: name -> the command line after `kamal` (dhow's commands take the same words).
pub fn aliases(out: &mut Out, v: &Y) {
    let at: &[&str] = &["aliases"];
    for (k, v) in entries(out, at, v) {
        string(out, at, k, v);
    }
}
