//! Property-based fuzzing of the config loader (run by `cargo test`, bounded): configs built
//! from every known key with values of every TOML type, destination files and random text.
//! Whatever the input, `load` returns a value or an error naming the file, and never panics.

use super::load::load;
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "service",
    "image",
    "servers",
    "primary_role",
    "require_destination",
    "deploy_timeout",
    "drain_timeout",
    "retain_containers",
    "hooks_path",
    "proxy.host",
    "proxy.hosts",
    "proxy.app_port",
    "proxy.path_prefix",
    "proxy.ssl",
    "proxy.ssl_certificate",
    "proxy.acme_email",
    "proxy.healthcheck.path",
    "proxy.healthcheck.interval",
    "proxy.publish",
    "proxy.bind",
    "proxy.metrics_port",
    "proxy.debug",
    "proxy.log_max_size",
    "proxy.response_timeout",
    "proxy.max_connections",
    "proxy.image",
    "proxy.buffering.requests",
    "proxy.buffering.max_request_body",
    "proxy.buffering.memory",
    "proxy.path_prefixes",
    "proxy.rate_limit.requests",
    "proxy.rate_limit.per",
    "proxy.rate_limit.by",
    "proxy.canonical_host",
    "proxy.error_pages_path",
    "volumes",
    "registry.server",
    "registry.username",
    "registry.password",
    "builder.context",
    "builder.args",
    "builder.secrets",
    "builder.arch",
    "env.clear",
    "env.secret",
    "ssh.user",
    "ssh.port",
    "ssh.proxy",
    "ssh.keys",
    "ssh.known_hosts_policy",
    "ssh.keepalive",
    "boot.limit",
    "boot.wait",
    "servers.web.hosts",
    "servers.web.cmd",
    "servers.web.options",
    "servers.worker.hosts",
    "servers.worker.proxy",
    "accessories.db.image",
    "accessories.db.host",
    "accessories.db.port",
    "setup.firewall",
    "aliases.console",
];

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[ -~]{0,12}".prop_map(|s| format!("{:?}", s)),
        Just("\"30s\"".to_string()),
        Just("\"25%\"".to_string()),
        Just("\"root@10.0.0.1:22\"".to_string()),
        Just("\"NAME:OTHER\"".to_string()),
        "\\PC{0,8}".prop_map(|s| format!("{:?}", s)),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..3).prop_map(|kv| {
                let parts: Vec<String> =
                    kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", parts.join(", "))
            }),
        ]
    })
}

fn config_text() -> impl Strategy<Value = String> {
    let entry = (prop::sample::select(KEYS), value()).prop_map(|(k, v)| match k.rsplit_once('.') {
        Some((table, key)) => format!("[{table}]\n{key} = {v}\n"),
        None => format!("{k} = {v}\n"),
    });
    prop_oneof![
        4 => prop::collection::vec(entry, 0..12).prop_map(|v| {
            // Top-level keys must come before tables.
            let (top, tables): (Vec<_>, Vec<_>) = v.into_iter().partition(|e| !e.starts_with('['));
            format!("{}{}", top.concat(), tables.concat())
        }),
        1 => "\\PC{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics(base in config_text(), dest in prop::option::of(config_text()), secrets in "\\PC{0,80}") {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("deploy.toml"), &base).unwrap();
        if let Some(d) = &dest {
            std::fs::write(cfg.join("deploy.fuzz.toml"), d).unwrap();
        }
        let sdir = dir.path().join(".dhow");
        std::fs::create_dir_all(&sdir).unwrap();
        // No command substitution: a random `$(...)` must not run anything.
        std::fs::write(sdir.join("secrets"), secrets.replace("$(", "$ (")).unwrap();
        let result = load(&cfg.join("deploy.toml"), dest.as_ref().map(|_| "fuzz"), &sdir);
        if let Err(e) = result {
            let msg = format!("{e:#}");
            prop_assert!(!msg.is_empty());
            prop_assert!(msg.contains("deploy.") || msg.contains("secret") || msg.contains("destination"),
                "an error names its file: {msg}");
        }
    }
}
