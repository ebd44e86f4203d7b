//! `--json` for the data commands that need no host, against the real binary: every stdout
//! line is one JSON object with an `event`, the data is one typed object (never `output`
//! lines), and its fields hold the real values: `version`, `config` (secrets redacted),
//! `docs`, `secrets print` and `secrets extract`.

use std::process::{Command, Output};

const CONFIG: &str = r#"service = "app"
image = "org/app"
servers = ["192.0.2.10"]
[env]
secret = ["DB_PASSWORD"]
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
    std::fs::write(dir.path().join("config/deploy.toml"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join(".dhow/secrets"),
        "DB_PASSWORD=s3cr3t value\nTOKEN=$(printf tok)\n",
    )
    .unwrap();
    dir
}

fn dhow(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dhow"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap()
}

/// The objects of a `--json` run that succeeded; each line must be one.
fn events(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = dhow(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
        .collect();
    for e in &all {
        assert!(e["event"].is_string(), "{args:?}: {e}");
        assert_ne!(e["event"], "output", "{args:?}: a text line as JSON: {e}");
    }
    all
}

/// The one object named `kind` among them.
fn one(all: &[serde_json::Value], kind: &str) -> serde_json::Value {
    let found: Vec<_> = all.iter().filter(|e| e["event"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}: {all:#?}");
    found[0].clone()
}

#[test]
fn version_config_and_docs_are_one_object_each() {
    let dir = project();
    let d = dir.path();
    let v = one(&events(d, &["version", "--json"]), "version");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

    let c = one(&events(d, &["config", "--json"]), "config");
    assert_eq!(c["config"]["service"], "app");
    assert_eq!(c["config"]["servers"][0], "192.0.2.10");
    assert_eq!(c["files"][0], "config/deploy.toml");
    let secrets = c["secrets"].as_array().unwrap();
    let db = secrets.iter().find(|s| s["name"] == "DB_PASSWORD").unwrap();
    assert_eq!(db["value"], "[REDACTED]");
    assert!(!c.to_string().contains("s3cr3t"), "{c}");

    let all = one(&events(d, &["docs", "--json"]), "docs");
    assert_eq!(all["section"], serde_json::Value::Null);
    assert!(all["text"].as_str().unwrap().contains("## `[proxy]`"));
    let proxy = one(&events(d, &["docs", "proxy", "--json"]), "docs");
    assert_eq!(proxy["section"], "proxy");
    let text = proxy["text"].as_str().unwrap();
    assert!(text.starts_with("## `[proxy]`"), "{text}");
    // The same text as without --json.
    let plain = dhow(d, &["docs", "proxy"]);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), text);
}

#[test]
fn secrets_print_and_extract_give_the_values_as_fields() {
    let dir = project();
    let d = dir.path();
    let s = one(&events(d, &["secrets", "print", "--json"]), "secrets");
    assert_eq!(
        s["secrets"],
        serde_json::json!({ "DB_PASSWORD": "s3cr3t value", "TOKEN": "tok" })
    );
    // The human form is unchanged.
    let plain = dhow(d, &["secrets", "print"]);
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "DB_PASSWORD=s3cr3t value\nTOKEN=tok\n"
    );

    let fetched = r#"{"vault/item/DB_PASSWORD":"p w","vault/item/USER":"me"}"#;
    let e = one(
        &events(d, &["--json", "secrets", "extract", "DB_PASSWORD", fetched]),
        "secret",
    );
    assert_eq!(e["name"], "DB_PASSWORD");
    assert_eq!(e["value"], "p w");
    let plain = dhow(d, &["secrets", "extract", "DB_PASSWORD", fetched]);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "p w\n");
}
