//! Which roles and hosts a command runs on: the roles of the config in order, the primary role,
//! and a [`Selection`] (the `-h` hosts, `-r` roles and `-p` primary filters, with `*`
//! wildcards) applied to them; also the SSH options of `[ssh]`. The CLI builds the
//! `Selection`; this module knows nothing of command-line types.

use super::schema::{Config, KnownHostsPolicy, Servers, SshConfigSetting};
use super::server_host::ServerHost;
use super::types::HostSpec;
use super::Loaded;
use crate::error::{fail, Kind};
use crate::host::ssh::ssh_config::SshConfigFile;
use crate::host::ssh::{HostKeyPolicy, KeyData, SshOptions};
use secrecy::ExposeSecret;
use std::path::PathBuf;

/// Which hosts a command is for: empty lists select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Host names or `*` patterns (`-h`); may name accessory hosts.
    pub hosts: Vec<String>,
    /// Role names or `*` patterns (`-r`).
    pub roles: Vec<String>,
    /// Only the primary host (`-p`): the first host of the primary role.
    pub primary: bool,
}

/// `*` matches any run of characters.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            Some(c) => n.first() == Some(c) && rec(&p[1..], &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

/// All roles in config order with their hosts.
pub fn roles(l: &Loaded) -> Vec<(String, Vec<HostSpec>)> {
    tagged_roles(&l.config)
        .into_iter()
        .map(|(r, hosts)| (r, hosts.into_iter().map(|h| h.host).collect()))
        .collect()
}

/// All roles in config order with their hosts as `servers` lists them (tags included).
pub fn tagged_roles(c: &Config) -> Vec<(String, Vec<ServerHost>)> {
    match &c.servers {
        Some(Servers::Hosts(h)) => vec![("web".into(), h.clone())],
        Some(Servers::Roles(r)) => r
            .iter()
            .map(|(k, v)| (k.clone(), v.hosts.clone()))
            .collect(),
        None => vec![],
    }
}

/// The tags of a host in a role, in the order written (none for a host the role lacks).
pub fn tags_of(c: &Config, role: &str, host: &HostSpec) -> Vec<String> {
    tagged_roles(c)
        .into_iter()
        .filter(|(r, _)| r == role)
        .flat_map(|(_, hosts)| hosts)
        .filter(|h| h.host == *host)
        .flat_map(|h| h.tags)
        .collect()
}

/// The primary role: `primary_role`, else `web` if it exists, else the first role.
pub fn primary_role(l: &Loaded) -> String {
    let all = roles(l);
    l.config
        .primary_role
        .clone()
        .or_else(|| all.iter().find(|(r, _)| r == "web").map(|(r, _)| r.clone()))
        .or_else(|| all.first().map(|(r, _)| r.clone()))
        .unwrap_or_else(|| "web".into())
}

/// A path from the config, with a leading `~/` meaning the home directory.
pub fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => crate::host::ssh::home_dir().join(rest),
        None => PathBuf::from(p),
    }
}

/// SSH options from `[ssh]`, with the user's ssh config (`ssh.config`) and `ssh.key_data`.
pub fn ssh_options(l: &Loaded) -> anyhow::Result<SshOptions> {
    let mut o = SshOptions::default();
    let setting = l.config.ssh.as_ref().and_then(|s| s.config.clone());
    let file = match setting {
        None | Some(SshConfigSetting::On(true)) => {
            SshConfigFile::load(&crate::host::ssh::home_dir().join(".ssh").join("config"))
        }
        Some(SshConfigSetting::On(false)) => Ok(None),
        Some(SshConfigSetting::Path(p)) => {
            let path = expand(&p);
            if !path.exists() {
                return Err(fail(
                    Kind::Config,
                    format!("ssh.config: {} does not exist", path.display()),
                ));
            }
            SshConfigFile::load(&path)
        }
    }
    .map_err(|e| fail(Kind::Config, format!("{e:#}")))?;
    if let Some(f) = &file {
        for w in f.match_warnings() {
            eprintln!("warning: {w}");
        }
    }
    o.ssh_config = file.map(std::sync::Arc::new);
    if let Some(s) = &l.config.ssh {
        for name in s.key_data.iter().flatten() {
            let value = l.secrets.get(name).ok_or_else(|| {
                fail(
                    Kind::Config,
                    format!("ssh.key_data: secret {name} is not defined"),
                )
            })?;
            o.key_data.push(
                KeyData::decode(name, value.expose_secret())
                    .map_err(|e| fail(Kind::Config, format!("{e:#}")))?,
            );
        }
        if let Some(u) = &s.user {
            o.user = u.clone();
            o.explicit.user = true;
        }
        if let Some(p) = s.port {
            o.port = p;
            o.explicit.port = true;
        }
        if let Some(k) = &s.keys {
            o.keys = k.iter().map(|k| expand(k)).collect();
            o.explicit.keys = true;
        }
        if let Some(a) = s.use_agent {
            o.use_agent = a;
        }
        if let Some(k) = &s.known_hosts {
            o.known_hosts = expand(k);
        }
        if let Some(p) = s.known_hosts_policy {
            o.policy = match p {
                KnownHostsPolicy::Strict => HostKeyPolicy::Strict,
                KnownHostsPolicy::AcceptNew => HostKeyPolicy::AcceptNew,
                KnownHostsPolicy::Off => HostKeyPolicy::Off,
            };
        }
        o.proxy = s.proxy.as_ref().map(HostSpec::target);
        if let Some(t) = s.connect_timeout {
            o.connect_timeout = t.0;
            o.explicit.connect_timeout = true;
        }
        if let Some(t) = s.keepalive {
            o.keepalive_interval = t.0;
            o.explicit.keepalive = true;
        }
    }
    Ok(o)
}

/// Apply the filters to (role, hosts); an unknown role or host is a usage error.
pub fn selection(l: &Loaded, g: &Selection) -> anyhow::Result<Vec<(String, Vec<HostSpec>)>> {
    let all = roles(l);
    let accessory_hosts: Vec<String> = l
        .config
        .accessories
        .iter()
        .flat_map(|m| m.values())
        .flat_map(|a| super::accessories::hosts_of(l, a))
        .collect();
    let all_hosts: Vec<String> = all
        .iter()
        .flat_map(|(_, h)| h.iter().map(|h| h.to_string()))
        .chain(accessory_hosts.iter().cloned())
        .collect();
    for r in &g.roles {
        if !all.iter().any(|(name, _)| wildcard(r, name)) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "no role matches `{r}`; roles: {}",
                    all.iter()
                        .map(|(r, _)| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    for h in &g.hosts {
        if !all_hosts.iter().any(|name| wildcard(h, name)) {
            let mut known = all_hosts.clone();
            known.dedup();
            return Err(fail(
                Kind::Usage,
                format!("no host matches `{h}`; hosts: {}", known.join(", ")),
            ));
        }
    }
    let primary = primary_role(l);
    let primary_host = all
        .iter()
        .find(|(r, _)| *r == primary)
        .and_then(|(_, h)| h.first())
        .map(|h| h.to_string());
    let mut out = Vec::new();
    for (role, hosts) in all {
        if !g.roles.is_empty() && !g.roles.iter().any(|p| wildcard(p, &role)) {
            continue;
        }
        let hosts: Vec<HostSpec> = hosts
            .into_iter()
            .filter(|h| g.hosts.is_empty() || g.hosts.iter().any(|p| wildcard(p, &h.to_string())))
            .filter(|h| !g.primary || Some(h.to_string()) == primary_host)
            .collect();
        if !hosts.is_empty() {
            out.push((role, hosts));
        }
    }
    // `-h` may name only accessory hosts (for `dhow accessory ...`): then no app host is
    // selected, and app commands say so when they need one.
    let accessory_selected = !g.hosts.is_empty()
        && accessory_hosts
            .iter()
            .any(|h| g.hosts.iter().any(|p| wildcard(p, h)));
    if out.is_empty() && !accessory_selected {
        return Err(fail(Kind::Usage, "the -h/-r/-p filters select no host"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{selection, wildcard, Selection};

    #[test]
    fn wildcards() {
        assert!(wildcard("web*", "web1"));
        assert!(wildcard("*.12", "127.0.0.12"));
        assert!(wildcard("*", "anything"));
        assert!(!wildcard("web", "web1"));
    }

    fn loaded() -> super::Loaded {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deploy.toml");
        std::fs::write(
            &file,
            "service = \"app\"\nimage = \"org/app\"\n\
             [servers]\nweb = [\"w1\", { host = \"w2\", tags = [\"eu\"] }]\nworker = [\"j1\"]\n\
             [accessories.db]\nimage = \"pg\"\nhost = \"d1\"\n",
        )
        .unwrap();
        crate::config::load(&file, None, &dir.path().join(".dhow")).unwrap()
    }

    fn names(l: &super::Loaded, s: &Selection) -> Vec<String> {
        selection(l, s)
            .unwrap()
            .into_iter()
            .map(|(role, hosts)| {
                let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
                format!("{role}:{}", hosts.join(","))
            })
            .collect()
    }

    #[test]
    fn filters_select_roles_and_hosts() {
        let l = loaded();
        let all = Selection::default();
        assert_eq!(names(&l, &all), ["web:w1,w2", "worker:j1"]);
        let roles = Selection {
            roles: vec!["work*".into()],
            ..all.clone()
        };
        assert_eq!(names(&l, &roles), ["worker:j1"]);
        let hosts = Selection {
            hosts: vec!["w2".into(), "j*".into()],
            ..all.clone()
        };
        assert_eq!(names(&l, &hosts), ["web:w2", "worker:j1"]);
        let primary = Selection {
            primary: true,
            ..all.clone()
        };
        assert_eq!(names(&l, &primary), ["web:w1"]);
        // Only an accessory host: no app host, and no error.
        let accessory = Selection {
            hosts: vec!["d1".into()],
            ..all.clone()
        };
        assert!(names(&l, &accessory).is_empty());
        for bad in [
            Selection {
                roles: vec!["nope".into()],
                ..all.clone()
            },
            Selection {
                hosts: vec!["x*".into()],
                ..all.clone()
            },
        ] {
            assert!(selection(&l, &bad).is_err(), "{bad:?}");
        }
    }
}
