//! What the config says that the manifests cannot say, one line per item ("not exported:
//! ..."), printed on stderr by the CLI: per-host env from host tags, boot limits, Docker
//! options with no Kubernetes field, the proxy's own settings (an Ingress controller's
//! business), accessory files, hooks. Nothing is dropped without a line here.

use crate::config::Loaded;
use crate::deploy::settings::Settings;

/// Every note for this config, in config order.
pub fn collect(l: &Loaded, s: &Settings, notes: &mut Vec<String>) {
    let c = &l.config;
    for r in &s.roles {
        for (host, he) in &r.host_env {
            for (var, tag) in &he.from_tags {
                notes.push(format!(
                    "not exported: {var} from env.tags.{tag} on host {host} of role {} (a Deployment's pods share one env; per-host env has no equivalent)",
                    r.name
                ));
            }
        }
        for (opt, v) in &r.options {
            let mapped = match opt.as_str() {
                "memory" => v.last().and_then(|m| super::workload::memory(m)).is_some(),
                "cpus" => true,
                _ => false,
            };
            if !mapped {
                notes.push(format!(
                    "not exported: servers.{}.options.{opt} = {v:?} (only memory and cpus map, to resource limits)",
                    r.name
                ));
            }
        }
    }
    if let Some(b) = &c.boot {
        if b.limit.is_some() || b.wait.is_some() {
            notes.push("not exported: boot.limit / boot.wait (the rolling update replaces one pod at a time: maxSurge 1, maxUnavailable 0)".into());
        }
    }
    if c.deploy
        .as_ref()
        .is_some_and(|d| d.bake.is_some_and(|b| !b.0.is_zero()))
    {
        notes.push("not exported: deploy.bake (dhow-proxy's automatic rollback; on Kubernetes use a progressive-delivery controller such as Argo Rollouts or Flagger)".into());
    }
    if c.canary.is_some() {
        notes.push("not exported: [canary] (dhow's cookie-sticky canary split; on Kubernetes the Ingress controller's canary annotations or a rollout controller do this)".into());
    }
    for (key, set) in [
        ("deploy_timeout", c.deploy_timeout.is_some()),
        ("drain_timeout", c.drain_timeout.is_some()),
    ] {
        if set {
            notes.push(format!("not exported: {key} (the cluster's progress deadline and termination grace period apply)"));
        }
    }
    proxy_notes(l, notes);
    if s.roles.iter().any(|r| r.proxied) {
        for (key, d) in [
            ("interval", s.proxy.health_interval),
            ("timeout", s.proxy.health_timeout),
        ] {
            if d.subsec_nanos() != 0 {
                notes.push(format!(
                    "proxy.healthcheck.{key} {}ms rounded up to {}s (Kubernetes probes count whole seconds)",
                    d.as_millis(),
                    d.as_secs() + 1
                ));
            }
        }
    }
    for a in &s.accessories {
        if a.hosts.len() > 1 {
            notes.push(format!(
                "not exported: accessories.{} on {} hosts (independent instances in dhow; the StatefulSet has 1 replica)",
                a.name,
                a.hosts.len()
            ));
        }
        for f in &a.files {
            notes.push(format!(
                "not exported: accessories.{}.files {} -> {} (make it a ConfigMap or Secret volume)",
                a.name, f.local, f.container_path
            ));
        }
        for opt in a.options.keys() {
            notes.push(format!(
                "not exported: accessories.{}.options.{opt}",
                a.name
            ));
        }
        for key in a.labels.keys() {
            notes.push(format!("not exported: accessories.{}.labels.{key}", a.name));
        }
    }
    if s.registry.is_none() {
        notes.push("not exported: image delivery without a registry (the cluster pulls the image: set [registry] and `dhow build push`)".into());
    }
    let mut hooks: Vec<std::path::PathBuf> = std::fs::read_dir(&s.hooks_path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "sample"))
        .collect();
    hooks.sort();
    for h in hooks {
        notes.push(format!(
            "not exported: hook {} (dhow runs it on the deployer's machine; Kubernetes does not)",
            h.display()
        ));
    }
}

/// The `[proxy]` keys that are the proxy's own behaviour, not a route.
fn proxy_notes(l: &Loaded, notes: &mut Vec<String>) {
    let Some(p) = &l.config.proxy else { return };
    let set = [
        ("strip_path_prefix", p.strip_path_prefix == Some(true)),
        ("response_timeout", p.response_timeout.is_some()),
        ("buffering", p.buffering.is_some()),
        ("publish", p.publish.is_some()),
        ("bind", p.bind.is_some()),
        ("metrics_port", p.metrics_port.is_some()),
        ("trusted_proxies", p.trusted_proxies.is_some()),
        ("max_connections", p.max_connections.is_some()),
        ("image", p.image.is_some()),
        ("debug", p.debug.is_some()),
        ("log_max_size", p.log_max_size.is_some()),
        ("acme_email", p.acme_email.is_some()),
        ("acme_directory", p.acme_directory.is_some()),
        ("rate_limit", p.rate_limit.is_some()),
        ("error_pages_path", p.error_pages_path.is_some()),
        ("canonical_host", p.canonical_host.is_some()),
    ];
    for (key, on) in set {
        if on {
            notes.push(format!(
                "not exported: proxy.{key} (a setting of dhow-proxy; set its equivalent on the cluster's Ingress controller)"
            ));
        }
    }
}
