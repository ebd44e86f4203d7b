//! From a loaded config and the global flags (`-h` hosts, `-r` roles, `-p` primary, with `*`
//! wildcards) to the deploy [`Settings`]: the selected roles and hosts with their merged env
//! and resolved secrets, SSH options, proxy, registry and builder settings, with defaults.

use super::schema::{KnownHostsPolicy, Servers};
use super::types::HostSpec;
use super::validate::secret_ref;
use super::Loaded;
use crate::cli::Global;
use crate::deploy::settings::{
    BuilderSettings, ProxySettings, RegistrySettings, RoleSettings, Settings,
};
use crate::error::{fail, Kind};
use crate::host::ssh::{HostKeyPolicy, SshOptions};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
    match &l.config.servers {
        Some(Servers::Hosts(h)) => vec![("web".into(), h.clone())],
        Some(Servers::Roles(r)) => r
            .iter()
            .map(|(k, v)| (k.clone(), v.hosts.clone()))
            .collect(),
        None => vec![],
    }
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

pub(super) fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => crate::host::ssh::home_dir().join(rest),
        None => PathBuf::from(p),
    }
}

/// SSH options from `[ssh]`.
pub fn ssh_options(l: &Loaded) -> SshOptions {
    let mut o = SshOptions::default();
    if let Some(s) = &l.config.ssh {
        if let Some(u) = &s.user {
            o.user = u.clone();
        }
        if let Some(p) = s.port {
            o.port = p;
        }
        if let Some(k) = &s.keys {
            o.keys = k.iter().map(|k| expand(k)).collect();
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
        }
        if let Some(t) = s.keepalive {
            o.keepalive_interval = t.0;
        }
    }
    o
}

/// Apply the global filters to (role, hosts); an unknown role or host is a usage error.
pub fn selection(l: &Loaded, g: &Global) -> anyhow::Result<Vec<(String, Vec<HostSpec>)>> {
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

/// Clear variables, and variables whose values come from secrets.
type RoleEnv = (Vec<(String, String)>, Vec<(String, SecretString)>);

fn env_for(l: &Loaded, role: Option<&super::schema::EnvConfig>) -> RoleEnv {
    let mut clear = BTreeMap::new();
    let mut secret = BTreeMap::new();
    for env in [l.config.env.as_ref(), role].into_iter().flatten() {
        for (k, v) in &env.clear {
            clear.insert(k.clone(), v.0.clone());
        }
        for s in &env.secret {
            let (name, from) = secret_ref(s);
            if let Some(v) = l.secrets.get(from) {
                secret.insert(name.to_string(), v.clone());
            }
        }
    }
    (clear.into_iter().collect(), secret.into_iter().collect())
}

/// The certificate and key files of `[proxy]`, read now so a missing file stops the command
/// before any host is touched.
fn tls_files(
    p: &super::schema::ProxyConfig,
) -> anyhow::Result<Option<crate::deploy::settings::TlsFiles>> {
    let (Some(cert), Some(key)) = (&p.ssl_certificate, &p.ssl_private_key) else {
        return Ok(None);
    };
    let read = |name: &str, path: &str| {
        std::fs::read_to_string(expand(path)).map_err(|e| {
            fail(
                Kind::Config,
                format!("proxy.{name}: cannot read {path}: {e}"),
            )
        })
    };
    let cert_pem = read("ssl_certificate", cert)?;
    let key_pem = read("ssl_private_key", key)?;
    if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(fail(
            Kind::Config,
            format!("proxy.ssl_certificate: {cert} is not a PEM certificate"),
        ));
    }
    if !key_pem.contains("PRIVATE KEY-----") {
        return Err(fail(
            Kind::Config,
            format!("proxy.ssl_private_key: {key} is not a PEM private key"),
        ));
    }
    Ok(Some(crate::deploy::settings::TlsFiles {
        cert_pem,
        key_pem: SecretString::from(key_pem),
    }))
}

/// The deploy settings for the selected hosts.
pub fn settings(l: &Loaded, g: &Global) -> anyhow::Result<Settings> {
    let c = &l.config;
    let selected = selection(l, g)?;
    let service = c.service.clone().unwrap_or_default();
    let registry = c.registry.as_ref().map(|r| RegistrySettings {
        server: r.server.clone().unwrap_or_default(),
        username: r.username.clone().unwrap_or_default(),
        password: r.password.as_ref().and_then(|p| l.secrets.get(p).cloned()),
    });
    let mut image = c.image.clone().unwrap_or_default();
    if let Some(r) = &registry {
        if !image.starts_with(&format!("{}/", r.server)) {
            image = format!("{}/{image}", r.server);
        }
    }
    let role_cfg = |name: &str| match &c.servers {
        Some(Servers::Roles(r)) => r.get(name).cloned(),
        _ => None,
    };
    let mut targets = BTreeMap::new();
    let mut roles = Vec::new();
    for (name, hosts) in &selected {
        let rc = role_cfg(name).unwrap_or_default();
        let (env, secret_env) = env_for(l, rc.env.as_ref());
        for h in hosts {
            targets.insert(h.to_string(), h.target());
        }
        roles.push(RoleSettings {
            name: name.clone(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            cmd: rc.cmd.map(|c| c.0),
            env,
            secret_env,
            labels: rc
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            options: rc
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            proxied: rc
                .proxy
                .unwrap_or(name == "web" || name == &primary_role(l)),
        });
    }
    let primary = primary_role(l);
    let primary_host = super::select::roles(l)
        .into_iter()
        .find(|(r, _)| *r == primary)
        .and_then(|(_, h)| h.first().map(|h| h.to_string()))
        .unwrap_or_default();
    targets
        .entry(primary_host.clone())
        .or_insert_with(|| crate::host::ssh::SshTarget::host(primary_host.clone()));
    if let Ok(h) = HostSpec::parse(&primary_host) {
        targets.insert(primary_host.clone(), h.target());
    }
    let p = c.proxy.clone().unwrap_or_default();
    let hc = p.healthcheck.clone().unwrap_or_default();
    let mut proxy_hosts = p.hosts.clone().unwrap_or_default();
    if let Some(h) = &p.host {
        proxy_hosts.insert(0, h.clone());
    }
    let b = c.builder.clone().unwrap_or_default();
    let host_count = roles
        .iter()
        .flat_map(|r| r.hosts.iter())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let boot = c.boot.clone().unwrap_or_default();
    for (h, t) in super::accessories::targets(l) {
        targets.entry(h).or_insert(t);
    }
    let lock_key = match &l.destination {
        Some(d) => format!("{service}-{d}"),
        None => service.clone(),
    };
    Ok(Settings {
        service,
        image,
        destination: l.destination.clone(),
        primary_role: primary,
        roles,
        primary_host,
        targets,
        ssh: ssh_options(l),
        proxy: ProxySettings {
            hosts: proxy_hosts,
            app_port: p.app_port.unwrap_or(80),
            path_prefix: p.path_prefix.clone(),
            strip_prefix: p.strip_path_prefix.unwrap_or(false),
            health_path: hc.path.unwrap_or_else(|| "/up".into()),
            health_interval: hc.interval.map_or(Duration::from_secs(1), |d| d.0),
            health_timeout: hc.timeout.map_or(Duration::from_secs(5), |d| d.0),
            tls: tls_files(&p)?,
            acme: p.ssl == Some(true) && p.ssl_certificate.is_none(),
            boot: crate::proxy::on_host::BootOptions {
                publish: p
                    .publish
                    .clone()
                    .unwrap_or_else(|| vec![80, 443])
                    .into_iter()
                    .map(|port| (port, port))
                    .collect(),
                acme_email: p.acme_email.clone(),
                acme_directory: p.acme_directory.clone(),
            },
        },
        registry,
        builder: BuilderSettings {
            context: PathBuf::from(b.context.unwrap_or_else(|| ".".into())),
            dockerfile: b.dockerfile.unwrap_or_else(|| "Dockerfile".into()),
            target: b.target,
            args: b.args.into_iter().map(|(k, v)| (k, v.0)).collect(),
            secret_values: b
                .secrets
                .iter()
                .filter_map(|n| l.secrets.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
            secrets: b.secrets,
            arch: b.arch,
        },
        boot_limit: boot.limit.map_or(host_count.max(1), |l| l.of(host_count)),
        boot_wait: boot.wait.map_or(Duration::ZERO, |d| d.0),
        retain: c.retain_containers.unwrap_or(5) as usize,
        deploy_timeout: c.deploy_timeout.map_or(Duration::from_secs(30), |d| d.0),
        drain_timeout: c.drain_timeout.map_or(Duration::from_secs(30), |d| d.0),
        stop_grace: Duration::from_secs(10),
        hooks_path: PathBuf::from(c.hooks_path.clone().unwrap_or_else(|| "hooks".into())),
        accessories: super::accessories::resolve(
            l,
            &g.hosts,
            &c.service.clone().unwrap_or_default(),
            &lock_key,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard("web*", "web1"));
        assert!(wildcard("*.12", "127.0.0.12"));
        assert!(wildcard("*", "anything"));
        assert!(!wildcard("web", "web1"));
    }
}
