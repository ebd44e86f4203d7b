//! Checks on the merged config that the schema alone cannot make: required keys, roles with
//! hosts, a primary role that exists, destinations that are required, registry settings, and
//! secrets that are referenced but defined nowhere. Every error names the file, line and column
//! of the offending key (in the destination file when it comes from there).

use super::locate::{key, Located, Seg};
use super::schema::{Config, EnvConfig, Servers};
use crate::error::{fail, Kind};
use std::collections::{BTreeMap, BTreeSet};

/// Where a key path is: the last file that has it, else the base file.
fn at(files: &[Located], path: &[Seg]) -> String {
    files
        .iter()
        .rev()
        .find_map(|f| f.locate(path))
        .unwrap_or_else(|| {
            files
                .first()
                .map(|f| format!("{}:1:1", f.file))
                .unwrap_or_default()
        })
}

/// The secret a `secret` entry refers to: `NAME` or `NAME:SECRET_NAME`.
pub fn secret_ref(entry: &str) -> (&str, &str) {
    entry.split_once(':').unwrap_or((entry, entry))
}

/// Validate; returns the names of the secrets the config references.
pub fn validate(
    c: &Config,
    destination: Option<&str>,
    files: &[Located],
    defined: &BTreeMap<String, (String, String)>,
) -> anyhow::Result<BTreeSet<String>> {
    let mut errors: Vec<String> = Vec::new();
    let mut err = |path: &[Seg], msg: String| {
        let p = super::locate::render(path);
        errors.push(format!(
            "{}: {}{msg}",
            at(files, path),
            if p.is_empty() {
                String::new()
            } else {
                format!("{p}: ")
            }
        ));
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    };

    match &c.service {
        None => err(
            &[],
            "missing required key `service` (the app's name, e.g. service = \"myapp\")".into(),
        ),
        Some(s) if !name_ok(s) => err(
            &[key("service")],
            format!("bad service name \"{s}\": use letters, digits, - and _"),
        ),
        _ => {}
    }
    match &c.image {
        None => err(
            &[],
            "missing required key `image` (e.g. image = \"myorg/myapp\")".into(),
        ),
        Some(s) if s.trim().is_empty() || s.contains(char::is_whitespace) => {
            err(&[key("image")], format!("bad image name \"{s}\""))
        }
        _ => {}
    }
    let mut roles: Vec<String> = Vec::new();
    match &c.servers {
        None => err(
            &[],
            "missing required key `servers` (e.g. servers = [\"192.0.2.10\"])".into(),
        ),
        Some(Servers::Hosts(h)) if h.is_empty() => {
            err(&[key("servers")], "no hosts: list at least one host".into())
        }
        Some(Servers::Hosts(_)) => roles.push("web".into()),
        Some(Servers::Roles(r)) => {
            if r.is_empty() {
                err(
                    &[key("servers")],
                    "no roles: add at least one role with hosts".into(),
                );
            }
            for (name, role) in r {
                if !name_ok(name) {
                    err(
                        &[key("servers"), key(name)],
                        format!("bad role name \"{name}\": use letters, digits, - and _"),
                    );
                }
                if role.hosts.is_empty() {
                    err(
                        &[key("servers"), key(name)],
                        format!("role {name} has no hosts: add hosts = [\"...\"]"),
                    );
                }
                roles.push(name.clone());
            }
        }
    }
    if let Some(p) = &c.primary_role {
        if !roles.is_empty() && !roles.contains(p) {
            err(
                &[key("primary_role")],
                format!(
                    "primary role \"{p}\" is not a role in servers (roles: {})",
                    roles.join(", ")
                ),
            );
        }
    }
    if c.require_destination == Some(true) && destination.is_none() {
        err(
            &[key("require_destination")],
            "this config requires a destination: pass -d DESTINATION".into(),
        );
    }
    if let Some(r) = &c.registry {
        if r.server.as_deref().is_none_or(str::is_empty) {
            err(
                &[key("registry")],
                "registry.server is required when [registry] is set (e.g. \"ghcr.io\")".into(),
            );
        }
        if r.username.as_deref().is_none_or(str::is_empty) {
            err(
                &[key("registry")],
                "registry.username is required when [registry] is set".into(),
            );
        }
    }
    if let Some(p) = &c.proxy {
        if p.app_port == Some(0) {
            err(
                &[key("proxy"), key("app_port")],
                "app_port must be 1-65535".into(),
            );
        }
        if let Some(prefix) = &p.path_prefix {
            if !prefix.starts_with('/') {
                err(
                    &[key("proxy"), key("path_prefix")],
                    format!("path_prefix \"{prefix}\" must start with /"),
                );
            }
        }
        match (&p.ssl_certificate, &p.ssl_private_key) {
            (Some(_), None) => err(
                &[key("proxy"), key("ssl_certificate")],
                "ssl_certificate needs ssl_private_key (the PEM key file) beside it".into(),
            ),
            (None, Some(_)) => err(
                &[key("proxy"), key("ssl_private_key")],
                "ssl_private_key needs ssl_certificate (the PEM certificate file) beside it".into(),
            ),
            (None, None) if p.ssl == Some(true) => {
                // Automatic certificates: each host name needs to be an exact DNS name.
                let mut names: Vec<&String> = p.host.iter().collect();
                names.extend(p.hosts.iter().flatten());
                if names.is_empty() {
                    err(
                        &[key("proxy"), key("ssl")],
                        "ssl = true without certificate files gets certificates from Let's \
                         Encrypt (ACME) and needs the app's host names: set proxy.host or \
                         proxy.hosts"
                            .into(),
                    );
                }
                for name in names {
                    if name.starts_with("*.") || name.parse::<std::net::IpAddr>().is_ok() {
                        err(
                            &[key("proxy"), key("ssl")],
                            format!(
                                "{name}: automatic certificates (ACME HTTP-01) need exact DNS \
                                 names; for wildcards or IP addresses give ssl_certificate and \
                                 ssl_private_key"
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        if (p.acme_email.is_some() || p.acme_directory.is_some())
            && !(p.ssl == Some(true) && p.ssl_certificate.is_none())
        {
            err(
                &[key("proxy"), key("acme_email")],
                "acme_email / acme_directory are for automatic certificates: set ssl = true \
                 (without certificate files) or remove them"
                    .into(),
            );
        }
        if p.ssl == Some(false) && p.ssl_certificate.is_some() {
            err(
                &[key("proxy"), key("ssl")],
                "ssl = false contradicts ssl_certificate: remove one of them".into(),
            );
        }
        if let Some(path) = p.healthcheck.as_ref().and_then(|h| h.path.as_ref()) {
            if !path.starts_with('/') {
                err(
                    &[key("proxy"), key("healthcheck"), key("path")],
                    format!("health check path \"{path}\" must start with /"),
                );
            }
        }
    }
    for (name, a) in c.accessories.iter().flatten() {
        let base = [key("accessories"), key(name)];
        if a.image.as_deref().is_none_or(str::is_empty) {
            err(&base, format!("accessory {name} needs an image"));
        }
        if a.host.is_none()
            && a.hosts.as_ref().is_none_or(Vec::is_empty)
            && a.roles.as_ref().is_none_or(Vec::is_empty)
        {
            err(
                &base,
                format!("accessory {name} needs host, hosts or roles"),
            );
        }
        for r in a.roles.iter().flatten() {
            if !roles.is_empty() && !roles.contains(r) {
                err(
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
            err(
                &base,
                format!("accessory name \"{name}\": use letters, digits, - and _"),
            );
        }
        if let Some(p) = &a.port {
            if crate::accessory::Publish::parse(&p.0).is_none() {
                err(
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
                err(
                    &at("directories"),
                    format!("bad directory \"{d}\": expected HOST_DIR:/path/in/container"),
                );
            }
        }
        for (local, f) in &a.files {
            let (path, mode, owner) = match f {
                super::schema::AccessoryFile::Path(p) => (p, None, None),
                super::schema::AccessoryFile::Full(t) => {
                    (&t.path, t.mode.as_ref(), t.owner.as_ref())
                }
            };
            if !path.starts_with('/') {
                err(
                    &at("files"),
                    format!("{local}: the path in the container must be absolute, got \"{path}\""),
                );
            }
            if mode.is_some_and(|m| super::accessories::parse_mode(m).is_none()) {
                err(
                    &at("files"),
                    format!("{local}: mode must be octal like \"0640\""),
                );
            }
            if owner.is_some_and(|o| {
                !o.split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    || o.split(':').count() > 2
            }) {
                err(
                    &at("files"),
                    format!(
                        "{local}: owner must be numeric UID or UID:GID as the container sees it"
                    ),
                );
            }
        }
    }

    // Secrets referenced anywhere must be defined in .dhow/secrets*.
    let mut needed = BTreeSet::new();
    let mut refs: Vec<(Vec<Seg>, String)> = Vec::new();
    let env_refs = |env: &Option<EnvConfig>, base: Vec<Seg>, refs: &mut Vec<(Vec<Seg>, String)>| {
        if let Some(e) = env {
            for (i, s) in e.secret.iter().enumerate() {
                let mut p = base.clone();
                p.extend([key("env"), key("secret"), Seg::Index(i)]);
                refs.push((p, secret_ref(s).1.to_string()));
            }
        }
    };
    env_refs(&c.env, vec![], &mut refs);
    if let Some(Servers::Roles(r)) = &c.servers {
        for (name, role) in r {
            env_refs(&role.env, vec![key("servers"), key(name)], &mut refs);
        }
    }
    for (name, a) in c.accessories.iter().flatten() {
        env_refs(&a.env, vec![key("accessories"), key(name)], &mut refs);
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
    for (path, name) in refs {
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            err(&path, format!("bad secret name \"{name}\": use NAME or NAME:SECRET_NAME with letters, digits and _"));
        } else if !defined.contains_key(&name) {
            let files = super::secrets::files(std::path::Path::new(".dhow"), destination)
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            err(
                &path,
                format!("secret {name} is referenced but not defined in {files}"),
            );
        } else {
            needed.insert(name);
        }
    }
    if errors.is_empty() {
        Ok(needed)
    } else {
        Err(fail(Kind::Config, errors.join("\n")))
    }
}
