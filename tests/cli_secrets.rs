//! `dhow secrets fetch|extract|print` against stand-ins for the vendors' CLIs
//! (`tests/standins/*-standin`, installed under the vendor's name in a temporary bin dir first
//! on PATH; they check their arguments, answer with the documented JSON and log each call).
//! No vendor CLI, network, sandbox or Docker: every adapter's fetch + extract round trip and
//! the exact calls it makes, a `.dhow/secrets` file using `$(dhow secrets fetch ...)` resolved
//! by `dhow secrets print` and `dhow config`, JSON split over arguments, a missing CLI, a
//! failing CLI (its stderr shown, no secret value).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

/// A project dir with the stand-ins for `tools` on PATH under the vendors' names.
fn env(tools: &[&str]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let standins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
    for tool in tools {
        std::os::unix::fs::symlink(standins.join(format!("{tool}-standin")), bin.join(tool))
            .unwrap();
    }
    Env { dir, bin }
}

impl Env {
    fn path(&self) -> std::ffi::OsString {
        let dhow_dir = Path::new(env!("CARGO_BIN_EXE_dhow")).parent().unwrap();
        let mut dirs = vec![self.bin.clone(), dhow_dir.to_path_buf()];
        // python3 and sh for the stand-ins; the stand-ins' dir comes first, so a real vendor
        // CLI installed on this machine is never reached.
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhow"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("PATH", self.path())
            .env("STANDIN_LOG", self.log())
            .env("STANDIN_DIR", self.dir.path())
            .env_remove("DOPPLER_TOKEN")
            .env_remove("BWS_ACCESS_TOKEN")
            .env_remove("OP_SESSION_standin");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Every call the stand-ins got, in order, then forgotten.
    fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let _ = std::fs::remove_file(self.log());
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `dhow secrets fetch ARGS` must succeed; its JSON.
    fn fetch(&self, args: &[&str], vars: &[(&str, &str)]) -> Value {
        let mut all = vec!["secrets", "fetch"];
        all.extend(args);
        let out = self.run(&all, vars);
        assert!(out.status.success(), "{all:?}: {}", text(&out));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.trim().contains(char::is_whitespace),
            "one shell word: {stdout}"
        );
        serde_json::from_str(&stdout).unwrap()
    }

    /// Every key of `fetched` extracted by its last part, the JSON split on whitespace as an
    /// unquoted `$SECRETS` would be.
    fn extract_all(&self, fetched: &Value) {
        let json = serde_json::to_string_pretty(fetched).unwrap();
        for (key, value) in fetched.as_object().unwrap() {
            let name = key.rsplit('/').next().unwrap();
            let mut args = vec!["secrets", "extract", name];
            args.extend(json.split_whitespace());
            let out = self.run(&args, &[]);
            assert!(out.status.success(), "{}", text(&out));
            let got = String::from_utf8(out.stdout).unwrap();
            // Splitting and joining with one space is all a split JSON loses.
            let want = value
                .as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(got.trim_end_matches('\n'), want, "{key}");
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn call(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn one_password_signs_in_then_reads_the_fields() {
    let e = env(&["op"]);
    let got = e.fetch(
        &[
            "--adapter",
            "1password",
            "--account",
            "my-acct",
            "--from",
            "MyVault/MyItem",
            "REGISTRY_PASSWORD",
            "Prod/TOKEN",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"MyVault/MyItem/REGISTRY_PASSWORD": "op-registry-pw", "MyVault/MyItem/Prod/TOKEN": "op-prod-token"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["op", "account", "get", "--account", "my-acct"]),
            call(&["op", "signin", "--account", "my-acct", "--force"]),
            call(&[
                "op",
                "item",
                "get",
                "MyItem",
                "--vault",
                "MyVault",
                "--format",
                "json",
                "--account",
                "my-acct",
                "--fields",
                "label=REGISTRY_PASSWORD,label=Prod.TOKEN"
            ]),
        ]
    );
    e.extract_all(&got);
    // Signed in already; no names: every field of the item, `password` under the item's name.
    let all = e.fetch(
        &[
            "-a",
            "1Password",
            "--account",
            "my-acct",
            "--from",
            "MyVault/MyItem",
        ],
        &[("STANDIN_OP_SIGNED_IN", "1")],
    );
    assert_eq!(all["MyVault/MyItem"], "op-item-password");
    assert_eq!(all["MyVault/MyItem/DB_PASSWORD"], "op db  pw with spaces");
    assert_eq!(
        e.calls(),
        [
            call(&["op", "account", "get", "--account", "my-acct"]),
            call(&[
                "op",
                "item",
                "get",
                "MyItem",
                "--vault",
                "MyVault",
                "--format",
                "json",
                "--account",
                "my-acct"
            ]),
        ]
    );
    let one = e.fetch(
        &[
            "-a",
            "one_password",
            "--account",
            "my-acct",
            "MyVault/Other",
        ],
        &[("STANDIN_OP_SIGNED_IN", "1")],
    );
    assert_eq!(one, json!({"MyVault/Other": "op-other-password"}));
}

#[test]
fn bitwarden_unlocks_syncs_and_reads_items() {
    let e = env(&["bw"]);
    std::fs::write(e.dir.path().join("bw-state"), "unauthenticated").unwrap();
    let got = e.fetch(
        &[
            "--adapter",
            "bitwarden",
            "--account",
            "user@example.com",
            "registry",
            "app-env/DB_PASSWORD",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"registry": "bw-registry-pw", "app-env/DB_PASSWORD": "bw db pw"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["bw", "status"]),
            call(&["bw", "login", "user@example.com"]),
            call(&["bw", "status"]),
            call(&["bw", "unlock", "--raw"]),
            call(&["bw", "status"]),
            call(&["bw", "sync"]),
            call(&["bw", "get", "item", "registry"]),
            call(&["bw", "get", "item", "app-env"]),
        ]
    );
    e.extract_all(&got);
    // An item that is not a login: every custom field.
    let fields = e.fetch(
        &[
            "-a",
            "bitwarden",
            "--account",
            "user@example.com",
            "app-env",
        ],
        &[],
    );
    assert_eq!(
        fields,
        json!({"app-env/DB_PASSWORD": "bw db pw", "app-env/API_KEY": "bw-api-key"})
    );
}

#[test]
fn bitwarden_secrets_manager_gets_by_id_or_lists() {
    let e = env(&["bws"]);
    let token = [("BWS_ACCESS_TOKEN", "standin-token")];
    let got = e.fetch(
        &[
            "--adapter",
            "bitwarden-sm",
            "11111111-aaaa",
            "22222222-bbbb",
        ],
        &token,
    );
    assert_eq!(
        got,
        json!({"DB_PASSWORD": "bws db pw", "API_KEY": "bws-api-key"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["bws", "run", "echo OK"]),
            call(&["bws", "secret", "get", "11111111-aaaa"]),
            call(&["bws", "secret", "get", "22222222-bbbb"]),
        ]
    );
    e.extract_all(&got);
    let project = e.fetch(&["-a", "bitwarden_secrets_manager", "proj-2/all"], &token);
    assert_eq!(project, json!({"OTHER": "bws-other"}));
    assert_eq!(e.calls()[1], call(&["bws", "secret", "list", "proj-2"]));
    assert_eq!(
        e.fetch(&["-a", "bitwarden-sm", "all"], &token)
            .as_object()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(e.calls()[1], call(&["bws", "secret", "list"]));
    let out = e.run(&["secrets", "fetch", "-a", "bitwarden-sm", "all"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("BWS_ACCESS_TOKEN") && text(&out).contains("Missing access token"),
        "{}",
        text(&out)
    );
}

#[test]
fn aws_secrets_manager_batch_gets_json_and_plain_secrets() {
    let e = env(&["aws"]);
    let got = e.fetch(
        &[
            "--adapter",
            "aws_secrets_manager",
            "--account",
            "prod",
            "myapp/prod",
            "plain-token",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"myapp/prod/DB_PASSWORD": "aws db pw", "myapp/prod/API_KEY": "aws-api-key", "plain-token": "aws-plain-token"})
    );
    assert_eq!(
        e.calls(),
        [call(&[
            "aws",
            "secretsmanager",
            "batch-get-secret-value",
            "--secret-id-list",
            "myapp/prod",
            "plain-token",
            "--profile",
            "prod",
            "--output",
            "json"
        ])]
    );
    e.extract_all(&got);
    // --from is a prefix; an id it does not hold is an error with AWS's message.
    let out = e.run(
        &[
            "secrets",
            "fetch",
            "-a",
            "aws_secrets_manager",
            "--from",
            "myapp",
            "prod",
            "nope",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("myapp/nope: Secrets Manager can't find the specified secret."),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("aws db pw"), "{}", text(&out));
    assert_eq!(
        e.calls()[0][4..7],
        call(&["myapp/prod", "myapp/nope", "--output"])[..]
    );
}

#[test]
fn gcp_secret_manager_accesses_each_version() {
    let e = env(&["gcloud"]);
    let got = e.fetch(
        &[
            "--adapter",
            "gcp",
            "--account",
            "default",
            "DB_PASSWORD",
            "other-proj/API_KEY/3",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"default/DB_PASSWORD": "gcp db pw", "other-proj/API_KEY": "gcp-api-key"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["gcloud", "auth", "list", "--format=json"]),
            call(&[
                "gcloud",
                "secrets",
                "versions",
                "access",
                "latest",
                "--secret=DB_PASSWORD",
                "--format=json"
            ]),
            call(&[
                "gcloud",
                "secrets",
                "versions",
                "access",
                "3",
                "--secret=API_KEY",
                "--project=other-proj",
                "--format=json"
            ]),
        ]
    );
    e.extract_all(&got);
    e.fetch(
        &[
            "-a",
            "gcp_secret_manager",
            "--account",
            "me@example.com|sa@p.iam.gserviceaccount.com",
            "--from",
            "default",
            "DB_PASSWORD",
        ],
        &[],
    );
    assert_eq!(
        e.calls()[1],
        call(&[
            "gcloud",
            "secrets",
            "versions",
            "access",
            "latest",
            "--secret=DB_PASSWORD",
            "--account=me@example.com",
            "--impersonate-service-account=sa@p.iam.gserviceaccount.com",
            "--format=json"
        ])
    );
}

#[test]
fn doppler_gets_from_project_and_config() {
    let e = env(&["doppler"]);
    let got = e.fetch(
        &[
            "--adapter",
            "doppler",
            "--from",
            "myapp/prd",
            "DB_PASSWORD",
            "API_KEY",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"DB_PASSWORD": "doppler db pw", "API_KEY": "doppler-api-key"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["doppler", "me", "--json"]),
            call(&[
                "doppler",
                "secrets",
                "get",
                "DB_PASSWORD",
                "API_KEY",
                "--json",
                "-p",
                "myapp",
                "-c",
                "prd"
            ]),
        ]
    );
    e.extract_all(&got);
    let out = e.run(&["secrets", "fetch", "-a", "doppler", "DB_PASSWORD"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--from PROJECT/CONFIG"),
        "{}",
        text(&out)
    );
}

#[test]
fn lastpass_shows_the_entries() {
    let e = env(&["lpass"]);
    let got = e.fetch(
        &[
            "--adapter",
            "lastpass",
            "--account",
            "user@example.com",
            "--from",
            "Deploy",
            "DB_PASSWORD",
            "REGISTRY_PASSWORD",
        ],
        &[],
    );
    assert_eq!(
        got,
        json!({"Deploy/DB_PASSWORD": "lpass db pw", "Deploy/REGISTRY_PASSWORD": "lpass-registry-pw"})
    );
    assert_eq!(
        e.calls(),
        [
            call(&["lpass", "status", "--color", "never"]),
            call(&[
                "lpass",
                "show",
                "Deploy/DB_PASSWORD",
                "Deploy/REGISTRY_PASSWORD",
                "--json"
            ]),
        ]
    );
    e.extract_all(&got);
}

const KAMAL_STYLE: &str = "\
SECRETS=$(dhow secrets fetch --adapter 1password --account my-acct --from MyVault/MyItem REGISTRY_PASSWORD DB_PASSWORD)
REGISTRY_PASSWORD=$(dhow secrets extract REGISTRY_PASSWORD $SECRETS)
DB_PASSWORD=$(dhow secrets extract DB_PASSWORD ${SECRETS})
PLAIN=plain-value
";

const CONFIG: &str = r#"service = "app"
image = "org/app"
[servers.web]
hosts = ["192.0.2.10"]
[registry]
server = "registry.example.com"
username = "deploy"
password = "REGISTRY_PASSWORD"
[env]
secret = ["DB_PASSWORD"]
"#;

#[test]
fn a_kamal_style_secrets_file_resolves() {
    let e = env(&["op"]);
    std::fs::create_dir_all(e.dir.path().join(".dhow")).unwrap();
    std::fs::write(e.dir.path().join(".dhow/secrets"), KAMAL_STYLE).unwrap();
    std::fs::write(
        e.dir.path().join(".dhow/secrets.staging"),
        "PLAIN=staging-value\n",
    )
    .unwrap();
    let signed = [("STANDIN_OP_SIGNED_IN", "1")];
    let out = e.run(&["secrets", "print"], &signed);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    // Whitespace inside a value survives the unquoted $SECRETS.
    assert!(
        printed.contains("DB_PASSWORD=op db  pw with spaces\n"),
        "{printed}"
    );
    assert!(
        printed.contains("REGISTRY_PASSWORD=op-registry-pw\n"),
        "{printed}"
    );
    assert!(printed.contains("PLAIN=plain-value\n"), "{printed}");
    assert!(printed.contains("SECRETS={"), "{printed}");
    let staging = String::from_utf8(
        e.run(&["secrets", "print", "-d", "staging"], &signed)
            .stdout,
    )
    .unwrap();
    assert!(staging.contains("PLAIN=staging-value\n"), "{staging}");
    e.calls();

    // `dhow config` resolves the secrets the config references, values redacted.
    std::fs::create_dir_all(e.dir.path().join("config")).unwrap();
    std::fs::write(e.dir.path().join("config/deploy.toml"), CONFIG).unwrap();
    let out = e.run(&["config"], &signed);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("# REGISTRY_PASSWORD = [REDACTED]"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("op-registry-pw") && !text(&out).contains("op db"),
        "{}",
        text(&out)
    );
    let calls = e.calls();
    assert!(
        calls
            .iter()
            .any(|c| c[..3] == call(&["op", "item", "get"])[..]),
        "{calls:?}"
    );
}

#[test]
fn extract_joins_split_json_and_lists_keys_when_missing() {
    let e = env(&[]);
    let out = e.run(
        &[
            "secrets",
            "extract",
            "B",
            "{\"A/B\":",
            "\"x",
            "-h",
            "--",
            "y\"}",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "x -h -- y\n");
    let out = e.run(
        &[
            "secrets",
            "extract",
            "C",
            "{\"A/B\":\"s3cret\",\"D\":\"x\"}",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("A/B, D"), "{}", text(&out));
    assert!(!text(&out).contains("s3cret"), "{}", text(&out));
}

#[test]
fn a_missing_cli_is_named_with_how_to_install_it() {
    let e = env(&[]);
    let empty = e.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (adapter, program) in [
        ("1password", "`op`"),
        ("bitwarden", "`bw`"),
        ("bitwarden-sm", "`bws`"),
        ("aws_secrets_manager", "`aws`"),
        ("gcp", "`gcloud`"),
        ("doppler", "`doppler`"),
        ("lastpass", "`lpass`"),
    ] {
        let out = e.run(
            &[
                "secrets",
                "fetch",
                "-a",
                adapter,
                "--account",
                "a",
                "--from",
                "p/c",
                "X",
            ],
            &[("PATH", empty.to_str().unwrap())],
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("{program}) is not on PATH; install it: https://")),
            "{}",
            text(&out)
        );
    }
    let out = e.run(&["secrets", "fetch", "-a", "vault9", "X"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("known: 1password"), "{}", text(&out));
    let out = e.run(&["secrets", "fetch", "-a", "1password", "X"], &[]);
    assert!(text(&out).contains("needs --account"), "{}", text(&out));
}

#[test]
fn a_failing_cli_shows_its_stderr_and_no_secret() {
    let e = env(&["op"]);
    let fail = [("STANDIN_OP_SIGNED_IN", "1"), ("STANDIN_FAIL", "1")];
    let out = e.run(
        &[
            "secrets",
            "fetch",
            "-a",
            "1password",
            "--account",
            "my-acct",
            "--from",
            "MyVault/MyItem",
            "REGISTRY_PASSWORD",
        ],
        &fail,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out.stdout.is_empty());
    let shown = text(&out);
    assert!(
        shown.contains("connection to 1Password reset") && shown.contains("op item get MyItem"),
        "{shown}"
    );
    assert!(
        !shown.contains("op-registry-pw") && !shown.contains("op-item-password"),
        "{shown}"
    );
    // Through a secrets file: the secret that failed and op's message, no value.
    std::fs::create_dir_all(e.dir.path().join(".dhow")).unwrap();
    std::fs::write(e.dir.path().join(".dhow/secrets"), KAMAL_STYLE).unwrap();
    let out = e.run(&["secrets", "print"], &fail);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("secret SECRETS: its command failed"),
        "{shown}"
    );
    assert!(
        !shown.contains("op-registry-pw") && !shown.contains("op-item-password"),
        "{shown}"
    );
    // An item op does not have: op's own message.
    let out = e.run(
        &[
            "secrets",
            "fetch",
            "-a",
            "1password",
            "--account",
            "my-acct",
            "MyVault/Nope/x",
        ],
        &[("STANDIN_OP_SIGNED_IN", "1")],
    );
    assert!(
        text(&out).contains("\"Nope\" isn't an item in the \"MyVault\" vault"),
        "{}",
        text(&out)
    );
}
