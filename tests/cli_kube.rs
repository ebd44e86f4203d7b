//! `dhow kube export` on a rich config (a proxied role on two hosts, a worker, an accessory
//! with a directory and a volume, TLS from certificate files, secrets, a host tag's env and a
//! boot limit that cannot map): the manifests are validated by a real validator,
//! `kubernetes-validate` (PyPI; `make deps` installs it), against the OpenAPI schemas of three
//! Kubernetes minor versions, strictly (unknown fields refused), with and without Secrets; the
//! probes, rolling update and routes are asserted against the config; what cannot map is
//! named on stderr; no secret value is printed without --with-secrets. The validator missing
//! fails the test: it is never skipped. This repository's own demo config (staging) exports
//! valid manifests too. Checked against schemas, not applied to a cluster.

use std::path::Path;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// The three Kubernetes versions the manifests are checked against.
const VERSIONS: [&str; 3] = ["1.35.0", "1.36.0", "1.37.0"];

const CONFIG: &str = r#"
service = "shop"
image = "team/shop"
[registry]
server = "registry.example.com"
username = "ci"
password = "REGISTRY_PASSWORD"
[servers.web]
hosts = ["w1", { host = "w2", tags = ["eu"] }]
options = { memory = "1g", cpus = "2" }
[servers.worker]
hosts = ["j1"]
cmd = ["bin/jobs", "--queue", "mail"]
env = { clear = { SCHEDULER = "on" } }
[servers.cleanup]
hosts = ["j1"]
schedule = "0 * * * *"
cmd = ["bin/cleanup", "--days", "7"]
keep_runs = 5
[proxy]
hosts = ["shop.example.com", "www.shop.example.com"]
path_prefix = "/store"
app_port = 8080
ssl = true
ssl_certificate = "cert.pem"
ssl_private_key = "key.pem"
healthcheck = { path = "/health/ready", interval = "4s", timeout = "3s" }
[env]
clear = { APP_ENV = "production", THREADS = 5 }
secret = ["DATABASE_URL", "SECRET_KEY_BASE:RAILS_KEY"]
[env.tags.eu]
clear = { REGION = "eu-west" }
[boot]
limit = "50%"
[accessories.db]
image = "postgres:16"
host = "d1"
port = "5432"
cmd = "postgres -c max_connections=50"
directories = ["data:/var/lib/postgresql/data"]
volumes = ["pgrun:/var/run/postgresql"]
env = { clear = { POSTGRES_USER = "shop" }, secret = ["POSTGRES_PASSWORD"] }
"#;

const SECRETS: &str = "REGISTRY_PASSWORD=reg-pw-1\nDATABASE_URL=postgres://shop:db-pw-2@shop-db/shop\nRAILS_KEY=rails-key-3\nPOSTGRES_PASSWORD=db-pw-2\n";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
    std::fs::write(dir.path().join("config/deploy.toml"), CONFIG).unwrap();
    std::fs::write(dir.path().join(".dhow/secrets"), SECRETS).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["shop.example.com".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    dir
}

fn dhow(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dhow"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run dhow")
}

/// Validate files strictly against each version; every object must be reported as passed.
fn validate(files: &[&Path], objects: usize) {
    for v in VERSIONS {
        let out = match Command::new("kubernetes-validate")
            .args(["--strict", "-k", v])
            .args(files)
            .output()
        {
            Ok(o) => o,
            Err(e) => panic!(
                "kubernetes-validate cannot run ({e}): `make deps` installs it \
                 (python3 -m pip install kubernetes-validate); this test does not skip without it"
            ),
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "Kubernetes {v}:\n{text}");
        let passed = text.matches(" passed for resource ").count();
        assert_eq!(passed, objects, "every object checked against {v}:\n{text}");
        assert!(!text.contains("ERROR"), "{text}");
    }
}

fn docs(yaml: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(yaml).expect("the export is YAML")
}

fn find<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn export_validates_against_three_kubernetes_versions_and_matches_the_config() {
    let dir = project();
    let out = dhow(dir.path(), &["kube", "export", "--version", "v42"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    for secret in ["reg-pw-1", "db-pw-2", "rails-key-3", "PRIVATE KEY"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed"
        );
    }
    for note in [
        "not exported: REGION from env.tags.eu on host w2 of role web",
        "not exported: boot.limit",
        "Secret shop-secrets is referenced, not written",
        "DATABASE_URL, POSTGRES_PASSWORD, RAILS_KEY",
        "kubectl create secret tls shop-tls",
    ] {
        assert!(stderr.contains(note), "stderr lacks {note:?}:\n{stderr}");
    }
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, &stdout).unwrap();
    let d = docs(&stdout);
    validate(&[&file], d.len());
    let kinds: Vec<&str> = d.iter().filter_map(|x| x["kind"].as_str()).collect();
    assert!(!kinds.contains(&"Secret"), "{kinds:?}");

    let web = find(&d, "Deployment", "shop-web");
    assert_eq!(web["spec"]["replicas"].as_i64(), Some(2));
    let ru = &web["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        (ru["maxUnavailable"].as_i64(), ru["maxSurge"].as_i64()),
        (Some(0), Some(1))
    );
    let c = &web["spec"]["template"]["spec"]["containers"][0];
    let probe = &c["readinessProbe"];
    assert_eq!(probe["httpGet"]["path"].as_str(), Some("/health/ready"));
    assert_eq!(probe["httpGet"]["port"].as_i64(), Some(8080));
    assert_eq!(probe["periodSeconds"].as_i64(), Some(4));
    assert_eq!(probe["timeoutSeconds"].as_i64(), Some(3));
    assert_eq!(
        c["image"].as_str(),
        Some("registry.example.com/team/shop:v42")
    );
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("1Gi"));

    let worker = find(&d, "Deployment", "shop-worker");
    let wc = &worker["spec"]["template"]["spec"]["containers"][0];
    assert!(wc["readinessProbe"].is_badvalue());
    assert_eq!(wc["args"][2].as_str(), Some("mail"));
    assert_eq!(
        worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as_i64(),
        Some(0)
    );
    assert!(!d.iter().any(|x| x["kind"].as_str() == Some("Service")
        && x["metadata"]["name"].as_str() == Some("shop-worker")));
    assert_eq!(
        find(&d, "ConfigMap", "shop-worker-env")["data"]["SCHEDULER"].as_str(),
        Some("on")
    );

    let cron = find(&d, "CronJob", "shop-cleanup");
    let spec = &cron["spec"];
    assert_eq!(spec["schedule"].as_str(), Some("0 * * * *"));
    assert_eq!(spec["concurrencyPolicy"].as_str(), Some("Forbid"));
    assert_eq!(spec["timeZone"].as_str(), Some("Etc/UTC"));
    assert_eq!(spec["startingDeadlineSeconds"].as_i64(), Some(60));
    assert_eq!(spec["successfulJobsHistoryLimit"].as_i64(), Some(5));
    let job = &spec["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"].as_i64(), Some(0));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let cc = &pod["containers"][0];
    let command: Vec<&str> = cc["command"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert_eq!(command, ["bin/cleanup", "--days", "7"]);
    assert!(cc["args"].is_badvalue());
    assert_eq!(
        cc["image"].as_str(),
        Some("registry.example.com/team/shop:v42")
    );
    assert!(cc["env"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str() == Some("shop-secrets")));
    assert!(!d.iter().any(|x| x["kind"].as_str() == Some("Deployment")
        && x["metadata"]["name"].as_str() == Some("shop-cleanup")));

    let svc = find(&d, "Service", "shop-web");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_i64(), Some(80));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"].as_i64(), Some(8080));
    let ing = find(&d, "Ingress", "shop");
    let rules = ing["spec"]["rules"].as_vec().unwrap();
    let hosts: Vec<&str> = rules.iter().filter_map(|r| r["host"].as_str()).collect();
    assert_eq!(hosts, ["shop.example.com", "www.shop.example.com"]);
    for r in rules {
        let p = &r["http"]["paths"][0];
        assert_eq!(p["path"].as_str(), Some("/store"));
        assert_eq!(p["pathType"].as_str(), Some("Prefix"));
        assert_eq!(p["backend"]["service"]["name"].as_str(), Some("shop-web"));
    }
    assert_eq!(
        ing["spec"]["tls"][0]["secretName"].as_str(),
        Some("shop-tls")
    );

    let db = find(&d, "StatefulSet", "shop-db");
    assert_eq!(db["spec"]["serviceName"].as_str(), Some("shop-db"));
    let claims = db["spec"]["volumeClaimTemplates"].as_vec().unwrap();
    assert_eq!(claims.len(), 2);
    assert_eq!(
        find(&d, "Service", "shop-db")["spec"]["clusterIP"].as_str(),
        Some("None")
    );
}

#[test]
fn with_secrets_to_a_directory_writes_valid_secret_objects() {
    let dir = project();
    let out = dhow(
        dir.path(),
        &[
            "kube",
            "export",
            "--version",
            "v42",
            "--with-secrets",
            "-o",
            "k8s",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let k8s = dir.path().join("k8s");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&k8s)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let d = docs(&all);
    assert_eq!(d.len(), files.len(), "one object per file");
    validate(
        &files.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        files.len(),
    );
    let s = find(&d, "Secret", "shop-secrets");
    assert_eq!(s["data"]["RAILS_KEY"].as_str(), Some("cmFpbHMta2V5LTM=")); // rails-key-3
    assert_eq!(
        find(&d, "Secret", "shop-tls")["type"].as_str(),
        Some("kubernetes.io/tls")
    );
    let readme = std::fs::read_to_string(k8s.join("README.md")).unwrap();
    assert!(readme.contains("not applied to a live cluster"));
    assert!(readme.contains("not exported: boot.limit"), "{readme}");
}

#[test]
fn host_selection_flags_are_refused_rather_than_ignored() {
    let dir = project();
    let out = dhow(dir.path(), &["kube", "export", "-r", "web"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-h, -r and -p do not apply"));
}

#[test]
fn json_gives_one_object_with_the_manifests_and_the_notes() {
    let dir = project();
    let out = dhow(
        dir.path(),
        &["--json", "kube", "export", "--version", "v42"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let kinds: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"Deployment") && kinds.contains(&"Ingress"),
        "{v}"
    );
    assert!(v["not_exported"].to_string().contains("boot.limit"), "{v}");
    assert!(v["secrets_to_fill"]["shop-secrets"].is_array(), "{v}");
    assert!(!stdout.contains("rails-key-3"));
}

#[test]
fn this_repositorys_demo_config_exports_valid_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    for f in ["deploy.toml", "deploy.staging.toml"] {
        std::fs::copy(
            root.join("config").join(f),
            dir.path().join("config").join(f),
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
    std::fs::write(
        dir.path().join(".dhow/secrets.staging"),
        "DEMO_SECRET=demo-s3\n",
    )
    .unwrap();
    let out = dhow(
        dir.path(),
        &["kube", "export", "-d", "staging", "--version", "v1"],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("demo-s3") && !stderr.contains("demo-s3"));
    assert!(
        stderr.contains("proxy.healthcheck.interval 250ms rounded up to 1s"),
        "{stderr}"
    );
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, &stdout).unwrap();
    let d = docs(&stdout);
    validate(&[&file], d.len());
    let web = find(&d, "Deployment", "demo-staging-web");
    assert_eq!(web["spec"]["replicas"].as_i64(), Some(2));
    let probe = &web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(probe["httpGet"]["path"].as_str(), Some("/up"));
    assert_eq!(probe["httpGet"]["port"].as_i64(), Some(3000));
    assert_eq!(web["spec"]["revisionHistoryLimit"].as_i64(), Some(3));
}

/// Every example deployment under examples/ (each config file of each example, with its
/// `sandbox` destination) exports manifests that validate against the three versions, with the
/// health check as readiness probe, a rolling update that never loses a pod, and the route's
/// path on the Ingress. New examples are picked up without editing this test.
#[test]
fn every_example_exports_valid_manifests_matching_its_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut exported = Vec::new();
    for entry in std::fs::read_dir(&root).expect("examples/") {
        let example = entry.unwrap().path();
        if !example.join("config").is_dir() {
            continue;
        }
        let name = example.file_name().unwrap().to_string_lossy().to_string();
        let copy = tempfile::tempdir().unwrap();
        let dir = copy.path().join(&name);
        copy_tree(&example, &dir);
        for conf in std::fs::read_dir(dir.join("config")).unwrap() {
            let conf = conf.unwrap().path();
            let file = conf.file_name().unwrap().to_string_lossy().to_string();
            if !file.ends_with(".toml") || file.matches('.').count() != 1 {
                continue; // a destination file (NAME.DEST.toml)
            }
            let stem = file.trim_end_matches(".toml");
            let dests: Vec<String> = std::fs::read_dir(dir.join("config"))
                .unwrap()
                .filter_map(|e| {
                    let f = e.unwrap().file_name().to_string_lossy().to_string();
                    let d = f.strip_prefix(&format!("{stem}."))?.strip_suffix(".toml")?;
                    Some(d.to_string())
                })
                .collect();
            assert!(!dests.is_empty(), "{name}/config/{file} has no destination");
            for dest in dests {
                let rel = format!("config/{file}");
                export_example(&dir, &name, &rel, &dest, copy.path());
                exported.push(format!("{name}/{rel} -d {dest}"));
            }
        }
    }
    assert!(exported.len() >= 3, "examples exported: {exported:?}");
}

/// Export one example config with one destination, validate it and check it against the config.
fn export_example(dir: &Path, name: &str, rel: &str, dest: &str, out_dir: &Path) {
    let out = dhow(
        dir,
        &["-c", rel, "kube", "export", "-d", dest, "--version", "v1"],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{name}/{rel} -d {dest}: {stderr}");
    let yaml = out_dir.join(format!("{name}-{}-{dest}.yaml", rel.replace('/', "-")));
    std::fs::write(&yaml, &stdout).unwrap();
    let d = docs(&stdout);
    validate(&[&yaml], d.len());
    let mut config: toml::Table = std::fs::read_to_string(dir.join(rel))
        .unwrap()
        .parse()
        .unwrap();
    // The destination file's [proxy] keys (a host per destination) override the base's, as
    // dhow merges them.
    let dest_file = dir.join(rel.replace(".toml", &format!(".{dest}.toml")));
    let over = std::fs::read_to_string(&dest_file)
        .ok()
        .and_then(|s| s.parse::<toml::Table>().ok())
        .and_then(|t| t.get("proxy").cloned());
    if let (Some(toml::Value::Table(over)), Some(toml::Value::Table(base))) =
        (over, config.get_mut("proxy"))
    {
        base.extend(over);
    }
    let service = config["service"].as_str().unwrap();
    let web = find(&d, "Deployment", &format!("{service}-{dest}-web"));
    let spec = &web["spec"];
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxUnavailable"].as_i64(),
        Some(0),
        "{name}/{rel} -d {dest}"
    );
    let probe = &spec["template"]["spec"]["containers"][0]["readinessProbe"];
    let proxy = &config["proxy"];
    let check = proxy
        .get("healthcheck")
        .and_then(|h| h.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or("/up");
    assert_eq!(
        probe["httpGet"]["path"].as_str(),
        Some(check),
        "{name}/{rel} -d {dest}"
    );
    let ingress = find(&d, "Ingress", &format!("{service}-{dest}"));
    let rule = &ingress["spec"]["rules"][0];
    if let Some(host) = proxy.get("host").and_then(|h| h.as_str()) {
        assert_eq!(rule["host"].as_str(), Some(host), "{name}/{rel} -d {dest}");
    }
    let prefix = proxy
        .get("path_prefix")
        .and_then(|p| p.as_str())
        .unwrap_or("/");
    assert_eq!(
        rule["http"]["paths"][0]["path"].as_str(),
        Some(prefix),
        "{name}/{rel} -d {dest}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}
