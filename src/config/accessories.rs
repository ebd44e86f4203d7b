//! `[accessories.*]` resolved for commands: hosts (host, hosts, or the hosts of roles, then the
//! `-h` filter), env with secrets, the port (127.0.0.1 unless an address is given), files read
//! and templates rendered now (so a missing file stops the command before any host is
//! touched), directories, options. Formats were checked by validate.rs.

use super::schema::{AccessoryConfig, AccessoryFile};
use super::select::{expand, roles, wildcard};
use super::validate::secret_ref;
use super::Loaded;
use crate::accessory::{default_network, AccessorySettings, FileSpec, Publish};
use crate::error::{fail, Kind};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// Every accessory of the config, with its hosts narrowed to `host_filter` (`-h`).
pub fn resolve(
    l: &Loaded,
    host_filter: &[String],
    service: &str,
    owner: &str,
) -> anyhow::Result<Vec<AccessorySettings>> {
    let mut out = Vec::new();
    for (name, a) in l.config.accessories.iter().flatten() {
        let hosts: Vec<String> = hosts_of(l, a)
            .into_iter()
            .filter(|h| host_filter.is_empty() || host_filter.iter().any(|p| wildcard(p, h)))
            .collect();
        let env: Vec<(String, String)> = a
            .env
            .iter()
            .flat_map(|e| e.clear.iter())
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let secret_env: Vec<(String, SecretString)> = a
            .env
            .iter()
            .flat_map(|e| e.secret.iter())
            .filter_map(|s| {
                let (var, from) = secret_ref(s);
                l.secrets.get(from).map(|v| (var.to_string(), v.clone()))
            })
            .collect();
        let mut files = Vec::new();
        for (local, spec) in &a.files {
            files.push(file(name, local, spec, &env, &secret_env)?);
        }
        let container = match &l.destination {
            Some(d) => format!("{service}-{name}-{d}"),
            None => format!("{service}-{name}"),
        };
        out.push(AccessorySettings {
            name: name.clone(),
            container,
            owner: owner.to_string(),
            image: a.image.clone().unwrap_or_default(),
            hosts,
            cmd: a.cmd.clone().map(|c| c.0),
            port: a.port.as_ref().and_then(|p| Publish::parse(&p.0)),
            env,
            secret_env,
            volumes: a.volumes.clone(),
            files,
            directories: a
                .directories
                .iter()
                .filter_map(|d| d.split_once(':'))
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect(),
            options: a
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            labels: a
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            network: a.network.clone().unwrap_or_else(default_network),
        });
    }
    Ok(out)
}

/// `host`, then `hosts`, then the hosts of `roles`, each once, in that order.
pub fn hosts_of(l: &Loaded, a: &AccessoryConfig) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let mut add = |h: String| {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    };
    for h in a.host.iter().chain(a.hosts.iter().flatten()) {
        add(h.to_string());
    }
    let all = roles(l);
    for r in a.roles.iter().flatten() {
        for (_, hs) in all.iter().filter(|(name, _)| name == r) {
            for h in hs {
                add(h.to_string());
            }
        }
    }
    hosts
}

/// Every accessory host with its SSH target (for connecting).
pub fn targets(l: &Loaded) -> BTreeMap<String, crate::host::ssh::SshTarget> {
    let mut t = BTreeMap::new();
    for a in l.config.accessories.iter().flat_map(|m| m.values()) {
        for h in a.host.iter().chain(a.hosts.iter().flatten()) {
            t.insert(h.to_string(), h.target());
        }
    }
    t
}

fn file(
    accessory: &str,
    local: &str,
    spec: &AccessoryFile,
    env: &[(String, String)],
    secret_env: &[(String, SecretString)],
) -> anyhow::Result<FileSpec> {
    let (path, mode, owner, template) = match spec {
        AccessoryFile::Path(p) => (p.clone(), None, None, false),
        AccessoryFile::Full(t) => (
            t.path.clone(),
            t.mode.clone(),
            t.owner.clone(),
            t.template.unwrap_or(false),
        ),
    };
    let text = std::fs::read_to_string(expand(local)).map_err(|e| {
        fail(
            Kind::Config,
            format!("accessories.{accessory}.files: cannot read {local}: {e}"),
        )
    })?;
    let contents = if template {
        render(&text, env, secret_env).map_err(|why| {
            fail(
                Kind::Config,
                format!("accessories.{accessory}.files: {local} {why}"),
            )
        })?
    } else {
        text
    };
    Ok(FileSpec {
        local: local.to_string(),
        container_path: path,
        contents: SecretString::from(contents),
        mode: mode
            .as_deref()
            .and_then(parse_mode)
            .unwrap_or(if template { 0o600 } else { 0o644 }),
        owner,
    })
}

/// `"0640"` or `"640"` (octal).
pub fn parse_mode(s: &str) -> Option<u32> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8).ok()?;
    (m <= 0o7777).then_some(m)
}

/// Replace `${NAME}` with the accessory's env values (`$${` stays a literal `${`). The error
/// names what is wrong.
pub fn render(
    text: &str,
    env: &[(String, String)],
    secret_env: &[(String, SecretString)],
) -> Result<String, String> {
    super::interpolate::interpolate(text, |name| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                secret_env
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.expose_secret().to_string())
            })
    })
    .map_err(|m| match m {
        super::interpolate::Missing::Unterminated => {
            "has a ${ without its } (write $${ for a literal ${)".to_string()
        }
        super::interpolate::Missing::Unknown(n) => format!(
            "uses ${{{n}}}, which is not in the accessory's env (known: {})",
            env.iter()
                .map(|(k, _)| k.as_str())
                .chain(secret_env.iter().map(|(k, _)| k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_env_and_secrets() {
        let env = vec![("USER".to_string(), "app".to_string())];
        let secrets = vec![("PASSWORD".to_string(), SecretString::from("s3"))];
        assert_eq!(
            render("u=${USER} p=${PASSWORD} $${HOME} $5", &env, &secrets).unwrap(),
            "u=app p=s3 ${HOME} $5"
        );
        assert!(render("${NOPE}", &env, &secrets)
            .unwrap_err()
            .contains("${NOPE}, which is not in the accessory's env (known: USER, PASSWORD)"));
        assert!(render("tail ${", &env, &secrets).is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("999"), None);
    }
}
