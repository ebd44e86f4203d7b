//! Unit tests of the export: probes, strategy and routes against the config they come from.

use super::*;

fn loaded(toml: &str, secrets: &str) -> (tempfile::TempDir, Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.toml");
    std::fs::write(&file, toml).unwrap();
    std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
    std::fs::write(dir.path().join(".dhow/secrets"), secrets).unwrap();
    let l = crate::config::load(&file, None, &dir.path().join(".dhow")).unwrap();
    (dir, l)
}

const APP: &str = r#"
service = "shop"
image = "team/shop"
[registry]
server = "registry.example.com"
username = "ci"
password = "REGISTRY_PASSWORD"
[servers.web]
hosts = ["w1", "w2", { host = "w3", tags = ["eu"] }]
options = { memory = "512m", cpus = "0.5", "add-host" = "x:1.2.3.4" }
labels = { team = "core" }
[servers.jobs]
hosts = ["j1"]
cmd = "bin/jobs --queue default"
env = { clear = { QUEUE = "default" } }
[proxy]
host = "shop.example.com"
path_prefix = "/app"
app_port = 3000
healthcheck = { path = "/health/ready", interval = "3s", timeout = "2s" }
[env]
clear = { RAILS_ENV = "production" }
secret = ["DATABASE_URL", "KEY:SECRET_KEY"]
[env.tags.eu]
clear = { REGION = "eu" }
[boot]
limit = 1
[deploy]
bake = "2m"
[canary]
cookie = "shop_canary"
[accessories.db]
image = "postgres:16"
host = "d1"
port = "5432"
directories = ["data:/var/lib/postgresql/data"]
env = { clear = { POSTGRES_USER = "shop" }, secret = ["POSTGRES_PASSWORD"] }
"#;

const SECRETS: &str =
    "REGISTRY_PASSWORD=r3g\nDATABASE_URL=postgres://x\nSECRET_KEY=k3y\nPOSTGRES_PASSWORD=pg\n";

fn export_of(with_secrets: bool) -> Export {
    let (_d, l) = loaded(APP, SECRETS);
    export(
        &l,
        &Options {
            version: "abc123".into(),
            with_secrets,
        },
    )
    .unwrap()
}

fn find<'a>(e: &'a Export, kind: &str, name: &str) -> &'a serde_json::Value {
    &e.objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name}: {:?}",
                e.objects
                    .iter()
                    .map(|o| (&o.kind, &o.name))
                    .collect::<Vec<_>>()
            )
        })
        .value
}

#[test]
fn proxied_role_has_the_health_check_as_readiness_and_never_loses_a_pod() {
    let e = export_of(false);
    let d = find(&e, "Deployment", "shop-web");
    assert_eq!(d["spec"]["replicas"], 3);
    let s = &d["spec"]["strategy"];
    assert_eq!(s["type"], "RollingUpdate");
    assert_eq!(s["rollingUpdate"]["maxUnavailable"], 0);
    assert_eq!(s["rollingUpdate"]["maxSurge"], 1);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    let p = &c["readinessProbe"];
    assert_eq!(p["httpGet"]["path"], "/health/ready");
    assert_eq!(p["httpGet"]["port"], 3000);
    assert_eq!(
        (p["periodSeconds"].clone(), p["timeoutSeconds"].clone()),
        (3.into(), 2.into())
    );
    assert_eq!(c["ports"][0]["containerPort"], 3000);
    assert_eq!(c["image"], "registry.example.com/team/shop:abc123");
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(c["resources"]["limits"]["cpu"], "0.5");
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["team"], "core");
    assert_eq!(
        d["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"],
        "shop-registry"
    );
}

#[test]
fn worker_has_its_cmd_and_env_and_no_service_or_probe() {
    let e = export_of(false);
    let d = find(&e, "Deployment", "shop-jobs");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["args"],
        serde_json::json!(["bin/jobs", "--queue", "default"])
    );
    assert!(c.get("readinessProbe").is_none());
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    assert!(!e
        .objects
        .iter()
        .any(|o| o.kind == "Service" && o.name == "shop-jobs"));
    let cm = find(&e, "ConfigMap", "shop-jobs-env");
    assert_eq!(cm["data"]["QUEUE"], "default");
    assert_eq!(cm["data"]["RAILS_ENV"], "production");
    let key = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "KEY")
        .unwrap();
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "shop-secrets", "key": "SECRET_KEY"})
    );
}

#[test]
fn routes_match_the_proxy_config() {
    let e = export_of(false);
    let svc = find(&e, "Service", "shop-web");
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 3000);
    let ing = find(&e, "Ingress", "shop");
    let rule = &ing["spec"]["rules"][0];
    assert_eq!(rule["host"], "shop.example.com");
    let path = &rule["http"]["paths"][0];
    assert_eq!(path["path"], "/app");
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["name"], "shop-web");
    assert!(ing["spec"].get("tls").is_none(), "no ssl, no tls");
}

#[test]
fn accessory_is_a_stateful_set_with_a_claim_and_a_headless_service_named_as_on_hosts() {
    let e = export_of(false);
    let svc = find(&e, "Service", "shop-db");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["ports"][0]["port"], 5432);
    let set = find(&e, "StatefulSet", "shop-db");
    assert_eq!(set["spec"]["serviceName"], "shop-db");
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
    let c = &set["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/var/lib/postgresql/data"
    );
    assert_eq!(c["image"], "postgres:16");
}

#[test]
fn secrets_are_referenced_unless_asked_for_and_unmappable_keys_are_named() {
    let e = export_of(false);
    assert!(!e.objects.iter().any(|o| o.kind == "Secret"));
    assert_eq!(
        e.secrets_to_fill["shop-secrets"],
        ["DATABASE_URL", "POSTGRES_PASSWORD", "SECRET_KEY"]
    );
    let all = format!(
        "{:?}",
        e.objects
            .iter()
            .map(|o| o.value.to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        !all.contains("k3y") && !all.contains("r3g"),
        "no secret value without --with-secrets"
    );
    let notes = e.notes.join("\n");
    for want in [
        "REGION from env.tags.eu on host w3",
        "boot.limit",
        "options.add-host",
        "deploy.bake",
        "[canary]",
    ] {
        assert!(notes.contains(want), "{want} in {notes}");
    }
    let e = export_of(true);
    let s = find(&e, "Secret", "shop-secrets");
    assert_eq!(s["data"]["SECRET_KEY"], "azN5");
    assert!(e.secrets_to_fill.is_empty(), "{:?}", e.secrets_to_fill);
    let reg = find(&e, "Secret", "shop-registry");
    assert_eq!(reg["type"], "kubernetes.io/dockerconfigjson");
}

#[test]
fn docker_memory_sizes_become_quantities() {
    assert_eq!(workload::memory("512m").as_deref(), Some("512Mi"));
    assert_eq!(workload::memory("2G").as_deref(), Some("2Gi"));
    assert_eq!(workload::memory("1048576").as_deref(), Some("1048576"));
    assert_eq!(workload::memory("lots"), None);
}

#[test]
fn several_path_prefixes_are_paths_of_the_ingress_and_cert_files_are_read_only_for_secrets() {
    let toml = APP
        .replace("path_prefix = \"/app\"", "path_prefixes = [\"/app\", \"/admin\"]\nssl_certificate = \"missing.pem\"\nssl_private_key = \"missing.key\"\nrate_limit = { requests = 5 }");
    let (_d, l) = loaded(&toml, SECRETS);
    let opts = |with_secrets| Options {
        version: "abc123".into(),
        with_secrets,
    };
    let e = export(&l, &opts(false)).unwrap();
    let ing = find(&e, "Ingress", "shop");
    let paths: Vec<&str> = ing["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/app", "/admin"]);
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "shop-tls");
    assert!(
        e.notes.iter().any(|n| n.contains("proxy.rate_limit")),
        "{:?}",
        e.notes
    );
    // Writing the TLS Secret needs the files, which are not there.
    let err = format!("{:#}", export(&l, &opts(true)).err().unwrap());
    assert!(err.contains("cannot read missing.pem"), "{err}");
}

#[test]
fn a_proxied_role_with_its_own_route_gets_its_own_ingress_rule() {
    let toml = APP.replace(
        "[servers.jobs]",
        "[servers.admin]\nhosts = [\"a1\"]\nproxy = { host = \"admin.example.com\", path_prefix = \"/panel\" }\n\n[servers.jobs]",
    );
    let (_d, l) = loaded(&toml, SECRETS);
    let e = export(
        &l,
        &Options {
            version: "abc123".into(),
            with_secrets: false,
        },
    )
    .unwrap();
    let ing = find(&e, "Ingress", "shop");
    let rules = ing["spec"]["rules"].as_array().unwrap();
    let route = |host: &str| {
        let r = rules
            .iter()
            .find(|r| r["host"] == host)
            .unwrap_or_else(|| panic!("{rules:?}"));
        let p = &r["http"]["paths"][0];
        (
            p["path"].as_str().unwrap().to_string(),
            p["backend"]["service"]["name"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    assert_eq!(
        route("shop.example.com"),
        ("/app".into(), "shop-web".into())
    );
    assert_eq!(
        route("admin.example.com"),
        ("/panel".into(), "shop-admin".into())
    );
    assert!(
        !e.notes.iter().any(|n| n.contains("the route of role")),
        "{:?}",
        e.notes
    );
}
