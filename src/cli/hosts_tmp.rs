//! TEMPORARY (to be replaced by the config module): reads just enough of
//! `config/deploy.toml` for `server exec` and `details`: `servers` (an array of hosts, or a
//! table of roles each with `hosts`) and `[ssh]` (user, port, keys, known_hosts,
//! known_hosts_policy, proxy, connect_timeout, keepalive_interval), and applies the global
//! `-h`/`-r`/`-p` filters. Everything config-related for these commands is in this one file.

use super::Global;
use crate::error::{fail, Kind};
use crate::ssh::{HostKeyPolicy, SshOptions, Target};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Value;

/// The hosts selected for a command and how to connect to them.
#[derive(Debug, Clone)]
pub struct Hosts {
    pub targets: Vec<Target>,
    pub ssh: SshOptions,
}

/// Load `servers` and `[ssh]` from the config file and select hosts with the global filters.
pub fn load(global: &Global) -> anyhow::Result<Hosts> {
    let path = &global.config_file;
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            Kind::Config,
            format!(
                "cannot read the config {}: {e} (run from the app's folder, or pass -c FILE)",
                path.display()
            ),
        )
    })?;
    let doc: Value = toml::from_str(&text)
        .map_err(|e| fail(Kind::Config, format!("{}: {e}", path.display())))?;
    let roles = servers(&doc, path)?;
    let ssh = ssh_options(&doc, path)?;
    let targets = select(&roles, global)?;
    Ok(Hosts { targets, ssh })
}

/// (role, hosts) in config order; an array of hosts is the role `web`.
fn servers(doc: &Value, path: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let bad = |what: &str| fail(Kind::Config, format!("{}: servers: {what}", path.display()));
    let strings = |v: &Value| -> anyhow::Result<Vec<String>> {
        v.as_array()
            .ok_or_else(|| bad("expected an array of host names"))?
            .iter()
            .map(|h| {
                h.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("host names must be strings"))
            })
            .collect()
    };
    match doc.get("servers") {
        None => Err(bad("missing (list the hosts to deploy to)")),
        Some(v @ Value::Array(_)) => Ok(vec![("web".to_string(), strings(v)?)]),
        Some(Value::Table(roles)) => roles
            .iter()
            .map(|(role, v)| {
                let hosts = match v {
                    Value::Table(t) => t
                        .get("hosts")
                        .ok_or_else(|| bad(&format!("{role}.hosts missing")))?,
                    other => other,
                };
                Ok((role.clone(), strings(hosts)?))
            })
            .collect(),
        Some(_) => Err(bad("expected an array of hosts or a table of roles")),
    }
}

fn ssh_options(doc: &Value, path: &Path) -> anyhow::Result<SshOptions> {
    let mut opts = SshOptions::default();
    let Some(ssh) = doc.get("ssh") else {
        return Ok(opts);
    };
    let bad = |key: &str, what: &str| {
        fail(
            Kind::Config,
            format!("{}: ssh.{key}: {what}", path.display()),
        )
    };
    let string = |key: &str| -> anyhow::Result<Option<String>> {
        match ssh.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(key, "expected a string")),
        }
    };
    let int = |key: &str| -> anyhow::Result<Option<i64>> {
        match ssh.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(_) => Err(bad(key, "expected an integer")),
        }
    };
    if let Some(user) = string("user")? {
        opts.user = user;
    }
    if let Some(port) = int("port")? {
        opts.port = u16::try_from(port).map_err(|_| bad("port", "expected 1-65535"))?;
    }
    match ssh.get("keys") {
        None => {}
        Some(Value::Array(keys)) => {
            for k in keys {
                let k = k
                    .as_str()
                    .ok_or_else(|| bad("keys", "expected file paths"))?;
                opts.keys.push(expand(k));
            }
        }
        Some(Value::String(k)) => opts.keys.push(expand(k)),
        Some(_) => return Err(bad("keys", "expected an array of file paths")),
    }
    if let Some(Value::Boolean(agent)) = ssh.get("use_agent") {
        opts.use_agent = *agent;
    }
    if let Some(kh) = string("known_hosts")? {
        opts.known_hosts = expand(&kh);
    }
    if let Some(policy) = string("known_hosts_policy")? {
        opts.policy = HostKeyPolicy::parse(&policy).ok_or_else(|| {
            bad(
                "known_hosts_policy",
                "expected \"strict\", \"accept-new\" or \"off\"",
            )
        })?;
    }
    if let Some(proxy) = string("proxy")? {
        opts.proxy =
            Some(Target::parse(&proxy).ok_or_else(|| bad("proxy", "expected [user@]host[:port]"))?);
    }
    if let Some(secs) = int("connect_timeout")? {
        opts.connect_timeout = Duration::from_secs(secs.max(1) as u64);
    }
    if let Some(secs) = int("keepalive_interval")? {
        opts.keepalive_interval = Duration::from_secs(secs.max(1) as u64);
    }
    Ok(opts)
}

/// `~/x` is relative to $HOME; other relative paths to the current folder.
fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => crate::ssh::home_dir().join(rest),
        None => PathBuf::from(p),
    }
}

/// Apply `-r`, `-h` and `-p`; an unknown filter that matches nothing is a usage error.
fn select(roles: &[(String, Vec<String>)], global: &Global) -> anyhow::Result<Vec<Target>> {
    let mut hosts: Vec<String> = Vec::new();
    for (role, role_hosts) in roles {
        if !global.roles.is_empty() && !global.roles.iter().any(|p| wildcard(p, role)) {
            continue;
        }
        for h in role_hosts {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
    }
    if !global.hosts.is_empty() {
        hosts.retain(|h| global.hosts.iter().any(|p| wildcard(p, h)));
    }
    if global.primary {
        hosts.truncate(1);
    }
    if hosts.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!(
                "no host matches the filters (hosts: {:?}, roles: {:?}); see `servers` in {}",
                global.hosts,
                global.roles,
                global.config_file.display()
            ),
        ));
    }
    hosts
        .iter()
        .map(|h| {
            Target::parse(h).ok_or_else(|| fail(Kind::Config, format!("servers: bad host {h:?}")))
        })
        .collect()
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            Some(c) => n.first() == Some(c) && rec(&p[1..], &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn reads_servers_and_ssh() {
        let d = doc(
            r#"servers = { web = { hosts = ["a", "b:2222"] }, job = ["c"] }
            [ssh]
            user = "deploy"
            port = 2222
            keys = ["k1"]
            known_hosts_policy = "accept-new"
            proxy = "root@bastion:22""#,
        );
        let roles = servers(&d, Path::new("x")).unwrap();
        assert_eq!(roles.len(), 2);
        let opts = ssh_options(&d, Path::new("x")).unwrap();
        assert_eq!(opts.user, "deploy");
        assert_eq!(opts.port, 2222);
        assert_eq!(opts.keys, vec![PathBuf::from("k1")]);
        assert_eq!(opts.policy, HostKeyPolicy::AcceptNew);
        assert_eq!(opts.proxy.unwrap().host, "bastion");
        assert!(ssh_options(&doc("[ssh]\nknown_hosts_policy = \"x\""), Path::new("x")).is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("127.0.0.*", "127.0.0.11"));
        assert!(wildcard("*", "x"));
        assert!(!wildcard("127.0.0.1", "127.0.0.11"));
    }
}
