//! `[accessories.*]` resolved for commands: hosts (host, hosts, the hosts of roles or of tags,
//! then the `-h` filter), env with secrets, the port (127.0.0.1 unless an address is given),
//! files read and templates rendered now (so a missing file stops the command before any host
//! is touched), directories, options. Formats were checked by the config's validation.

use super::{default_network, AccessorySettings, FileSpec, Publish};
use crate::config::accessories::{hosts_of, parse_mode};
use crate::config::interpolate::{interpolate, Missing};
use crate::config::schema::AccessoryFile;
use crate::config::select::{expand, wildcard};
use crate::config::validate::secret_ref;
use crate::config::Loaded;
use crate::error::{fail, Kind};
use secrecy::{ExposeSecret, SecretString};

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
        let container = crate::host::names::accessory_name(service, name, l.destination.as_deref());
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

/// Replace `${NAME}` with the accessory's env values (`$${` stays a literal `${`). The error
/// names what is wrong.
pub fn render(
    text: &str,
    env: &[(String, String)],
    secret_env: &[(String, SecretString)],
) -> Result<String, String> {
    interpolate(text, |name| {
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
        Missing::Unterminated => "has a ${ without its } (write $${ for a literal ${)".to_string(),
        Missing::Unknown(n) => format!(
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
}
