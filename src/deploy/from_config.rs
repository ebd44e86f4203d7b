//! From a loaded config and a [`Selection`] to the deploy [`Settings`]: the selected roles and
//! hosts with their merged env (per host where hosts carry tags) and resolved secrets, SSH options, proxy, registry and builder
//! settings, with defaults. Certificate files are read here, so a missing file stops the
//! command before any host is touched. The only place the deploy side reads the config.

use super::settings::{
    BuilderSettings, ProxySettings, RegistrySettings, RoleSettings, Settings, TlsFiles,
};
use crate::config::schema::{BufferingConfig, BuilderConfig, ProxyConfig, Servers};
use crate::config::select::{expand, primary_role, roles, selection, ssh_options, Selection};
use crate::config::types::HostSpec;
use crate::config::Loaded;
use crate::error::{fail, Kind};
use crate::proxy::control::Buffering;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The deploy settings for the selected hosts.
pub fn settings(l: &Loaded, sel: &Selection) -> anyhow::Result<Settings> {
    settings_reading(l, sel, true)
}

/// The same; with `read_tls_files` false the certificate files are only noted as given, not
/// read (`kube export` without `--with-secrets` needs to know there is one, not what it is).
pub fn settings_reading(
    l: &Loaded,
    sel: &Selection,
    read_tls_files: bool,
) -> anyhow::Result<Settings> {
    let c = &l.config;
    let selected = selection(l, sel)?;
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
    let mut targets = BTreeMap::new();
    let mut role_settings = Vec::new();
    for (name, hosts) in &selected {
        for h in hosts {
            targets.insert(h.to_string(), h.target());
        }
        role_settings.push(role(l, name, hosts));
    }
    let primary = primary_role(l);
    let primary_host = roles(l)
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
    let host_count = role_settings
        .iter()
        .flat_map(|r| r.hosts.iter())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let boot = c.boot.clone().unwrap_or_default();
    for (h, t) in crate::config::accessories::targets(l) {
        targets.entry(h).or_insert(t);
    }
    let lock_key = crate::deploy::container::state_key(&service, l.destination.as_deref());
    Ok(Settings {
        service,
        image,
        destination: l.destination.clone(),
        primary_role: primary,
        roles: role_settings,
        primary_host,
        targets,
        ssh: ssh_options(l)?,
        proxy: proxy(&c.proxy.clone().unwrap_or_default(), read_tls_files)?,
        registry,
        delivery: c.delivery.unwrap_or_default(),
        builder: builder(l, c.builder.clone().unwrap_or_default()),
        boot_limit: boot.limit.map_or(host_count.max(1), |l| l.of(host_count)),
        boot_wait: boot.wait.map_or(Duration::ZERO, |d| d.0),
        retain: c.retain_containers.unwrap_or(5) as usize,
        deploy_timeout: c.deploy_timeout.map_or(Duration::from_secs(30), |d| d.0),
        drain_timeout: c.drain_timeout.map_or(Duration::from_secs(30), |d| d.0),
        stop_grace: Duration::from_secs(10),
        hooks_path: PathBuf::from(c.hooks_path.clone().unwrap_or_else(|| "hooks".into())),
        bake: bake(c.deploy.clone().unwrap_or_default()),
        canary: c
            .canary
            .clone()
            .map_or_else(Default::default, |k| crate::deploy::plan::Canary {
                percent: 0.0,
                cookie: k.cookie,
                header: k.header,
                allow: k.allow,
            }),
        accessories: crate::accessory::from_config::resolve(
            l,
            &sel.hosts,
            &c.service.clone().unwrap_or_default(),
            &lock_key,
        )?,
    })
}

/// `[deploy]`'s bake window and limits, the defaults where not given.
fn bake(d: crate::config::schema::DeployConfig) -> crate::deploy::plan::Bake {
    let defaults = crate::deploy::plan::Bake::default();
    crate::deploy::plan::Bake {
        window: d.bake.map_or(Duration::ZERO, |b| b.0),
        max_error_rate: d.bake_max_error_rate.unwrap_or(defaults.max_error_rate),
        max_p99: d.bake_max_p99.map(|p| p.0),
        min_requests: d.bake_min_requests.unwrap_or(defaults.min_requests),
    }
}

/// One selected role: its hosts, command, env (app, role and, on tagged hosts, the tags' env
/// merged: `role_env.rs`), labels and options.
fn role(l: &Loaded, name: &str, hosts: &[HostSpec]) -> RoleSettings {
    let rc = match &l.config.servers {
        Some(Servers::Roles(r)) => r.get(name).cloned(),
        _ => None,
    }
    .unwrap_or_default();
    let env = super::role_env::resolve(l, rc.env.as_ref(), &[]);
    let mut host_env = BTreeMap::new();
    for h in hosts {
        let tags = crate::config::select::tags_of(&l.config, name, h);
        if !tags.is_empty() {
            let tagged = super::role_env::resolve(l, rc.env.as_ref(), &tags);
            host_env.insert(h.to_string(), tagged);
        }
    }
    RoleSettings {
        name: name.to_string(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        cmd: rc.cmd.map(|c| c.0),
        env: env.env,
        secret_env: env.secret_env,
        host_env,
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
            .unwrap_or(rc.schedule.is_none() && (name == "web" || name == primary_role(l))),
        cron: rc
            .schedule
            .clone()
            .map(|schedule| super::settings::CronSettings {
                schedule,
                keep_runs: rc.keep_runs.unwrap_or(dhow_proxy_api::cron::DEFAULT_KEEP),
            }),
        replicas: rc.replicas.unwrap_or(1).max(1),
        route: rc.route.as_ref().map(|r| super::settings::RouteOverride {
            hosts: match (&r.host, &r.hosts) {
                (None, None) => None,
                (h, hs) => Some(h.iter().chain(hs.iter().flatten()).cloned().collect()),
            },
            path_prefix: r.path_prefix.clone(),
            strip_prefix: r.strip_path_prefix,
        }),
    }
}

/// `[proxy]` with its defaults, the certificate files read.
fn proxy(p: &ProxyConfig, read_tls_files: bool) -> anyhow::Result<ProxySettings> {
    let hc = p.healthcheck.clone().unwrap_or_default();
    let mut hosts = p.hosts.clone().unwrap_or_default();
    if let Some(h) = &p.host {
        hosts.insert(0, h.clone());
    }
    Ok(ProxySettings {
        hosts,
        app_port: p.app_port.unwrap_or(80),
        path_prefix: p.path_prefix.clone(),
        strip_prefix: p.strip_path_prefix.unwrap_or(false),
        health_path: hc.path.unwrap_or_else(|| "/up".into()),
        health_interval: hc.interval.map_or(Duration::from_secs(1), |d| d.0),
        health_timeout: hc.timeout.map_or(Duration::from_secs(5), |d| d.0),
        tls: tls_files(p, read_tls_files)?,
        acme: p.ssl == Some(true) && p.ssl_certificate.is_none(),
        boot: crate::proxy::on_host::BootOptions {
            http_port: p
                .publish
                .as_ref()
                .and_then(|v| v.first())
                .copied()
                .unwrap_or(80),
            https_port: match &p.publish {
                Some(v) => v.get(1).copied(),
                None => Some(443),
            },
            bind: p.bind.clone().unwrap_or_default(),
            metrics_port: p.metrics_port,
            debug: p.debug.unwrap_or(false),
            log_max_size: p.log_max_size.clone().unwrap_or_else(|| "10m".into()),
            acme_email: p.acme_email.clone(),
            acme_directory: p.acme_directory.clone(),
            trusted_proxies: p.trusted_proxies.clone().unwrap_or_default(),
            max_connections: p.max_connections,
            image: p.image.clone(),
        },
        response_timeout: p.response_timeout.map(|d| d.0),
        buffering: p.buffering.as_ref().and_then(buffering),
        traffic: super::traffic::traffic(p)?,
    })
}

/// `[proxy.buffering]` as the proxy takes it; none when it sets nothing.
fn buffering(b: &BufferingConfig) -> Option<Buffering> {
    let wire = Buffering {
        requests: b.requests.unwrap_or(false),
        responses: b.responses.unwrap_or(false),
        max_request_body: b.max_request_body,
        max_response_body: b.max_response_body,
        memory: b.memory,
    };
    (wire != Buffering::default()).then_some(wire)
}

/// The certificate and key files of `[proxy]`, read now so a missing file stops the command
/// before any host is touched (unless `read` is false: then given, but empty).
fn tls_files(p: &ProxyConfig, read: bool) -> anyhow::Result<Option<TlsFiles>> {
    let (Some(cert), Some(key)) = (&p.ssl_certificate, &p.ssl_private_key) else {
        return Ok(None);
    };
    if !read {
        return Ok(Some(TlsFiles {
            cert_pem: String::new(),
            key_pem: SecretString::from(String::new()),
        }));
    }
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
    Ok(Some(TlsFiles {
        cert_pem,
        key_pem: SecretString::from(key_pem),
    }))
}

/// `[builder]` with its defaults, the build secrets resolved.
fn builder(l: &Loaded, b: BuilderConfig) -> BuilderSettings {
    BuilderSettings {
        context: PathBuf::from(b.context.unwrap_or_else(|| ".".into())),
        context_source: b.context_source.unwrap_or_default(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::Dur;

    #[test]
    fn proxy_limits_map_to_the_route_and_the_boot_options() {
        let plain = proxy(&ProxyConfig::default(), true).unwrap();
        assert_eq!((plain.response_timeout, plain.buffering), (None, None));
        assert_eq!(plain.boot.max_connections, None);
        let p = ProxyConfig {
            response_timeout: Some(Dur(Duration::from_secs(45))),
            buffering: Some(BufferingConfig {
                requests: Some(true),
                max_request_body: Some(40_000_000),
                memory: Some(2_000_000),
                ..BufferingConfig::default()
            }),
            max_connections: Some(500),
            ..ProxyConfig::default()
        };
        let s = proxy(&p, true).unwrap();
        assert_eq!(s.response_timeout, Some(Duration::from_secs(45)));
        let b = s.buffering.unwrap();
        assert!(b.requests && !b.responses);
        assert_eq!(
            (b.max_request_body, b.memory),
            (Some(40_000_000), Some(2_000_000))
        );
        assert_eq!(s.boot.max_connections, Some(500));
        // A table that sets nothing (or turns buffering off) sends nothing.
        let off = BufferingConfig {
            requests: Some(false),
            ..BufferingConfig::default()
        };
        assert_eq!(buffering(&off), None);
    }

    fn load(toml: &str, secrets: &str) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deploy.toml");
        std::fs::write(&file, toml).unwrap();
        std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
        std::fs::write(dir.path().join(".dhow/secrets"), secrets).unwrap();
        crate::config::load(&file, None, &dir.path().join(".dhow")).unwrap()
    }

    /// Each host's container env as `KEY=value` (secrets as `KEY=<secret>`), per role.
    fn envs(l: &Loaded, sel: &Selection) -> Vec<String> {
        let plan =
            settings(l, sel)
                .unwrap()
                .plan("v1", crate::deploy::plan::Movement::Deploy, false);
        let mut out = Vec::new();
        for h in &plan.hosts {
            for r in &h.roles {
                let c = &r.container;
                let mut vars: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                vars.extend(c.secret_env.iter().map(|(k, _)| format!("{k}=<secret>")));
                out.push(format!("{} {}: {}", h.host, r.role, vars.join(" ")));
            }
        }
        out
    }

    #[test]
    fn tagged_hosts_get_their_tags_env_and_the_others_do_not() {
        let l = load(
            "service = \"app\"\nimage = \"org/app\"\n\
             [servers.web]\nhosts = [\"h1\", { host = \"h2\", tags = [\"eu\"] }]\n\
             [servers.jobs]\nhosts = [\"h2\"]\nenv = { clear = { Q = \"all\" } }\n\
             [env]\nclear = { A = 1, DB = \"main\" }\n\
             [env.tags.eu]\nclear = { REGION = \"eu\" }\nsecret = [\"DB:EU_DB\"]\n",
            "EU_DB=eu-pass\n",
        );
        assert_eq!(
            envs(&l, &Selection::default()),
            [
                // Tags are per role's host: h2 carries none in jobs.
                "h2 jobs: A=1 DB=main Q=all",
                "h2 web: A=1 REGION=eu DB=<secret>",
                "h1 web: A=1 DB=main",
            ]
        );
        let h2 = Selection {
            hosts: vec!["h2".into()],
            ..Selection::default()
        };
        assert_eq!(envs(&l, &h2)[1], "h2 web: A=1 REGION=eu DB=<secret>");
        let s = settings(&l, &Selection::default()).unwrap();
        let text = s
            .plan("v1", crate::deploy::plan::Movement::Deploy, false)
            .describe();
        assert!(
            text.contains("    tags: eu\n    env: A, REGION (tag eu), DB (secret, tag eu)\n"),
            "{text}"
        );
        assert!(text.contains("    env: A, DB\n"), "{text}");
    }

    #[test]
    fn without_tags_no_host_has_an_env_of_its_own() {
        let l = load(
            "service = \"app\"\nimage = \"org/app\"\nservers = [\"h1\", \"h2\"]\n\
             [env]\nclear = { A = 1 }\n",
            "",
        );
        let s = settings(&l, &Selection::default()).unwrap();
        assert!(s.roles.iter().all(|r| r.host_env.is_empty()));
        assert_eq!(
            envs(&l, &Selection::default()),
            ["h1 web: A=1", "h2 web: A=1"]
        );
        let text = s
            .plan("v1", crate::deploy::plan::Movement::Deploy, false)
            .describe();
        assert!(!text.contains("tags"), "{text}");
    }
}
