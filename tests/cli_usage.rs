//! Bad input on the command line: every command given a wrong flag, a missing argument, or an
//! unknown host, role or destination answers with a usage error (exit 2) that names the
//! problem, before any host is contacted; `--help` on any command (rollback included) prints
//! help and does nothing else. The hosts in the config do not exist: a command that tried to
//! reach one would fail differently (exit 4), so these cannot pass by accident.

use std::process::{Command, Output};

const CONFIG: &str = r#"service = "app"
image = "org/app"
[servers.web]
hosts = ["192.0.2.10", "192.0.2.11"]
[servers.worker]
hosts = ["192.0.2.12"]
cmd = "bin/jobs"
[ssh]
connect_timeout = "1s"
[aliases]
cfg = "config"
web-ver = "-r web app version"
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/deploy.toml"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("config/deploy.staging.toml"),
        "[servers.web]\nhosts = [\"192.0.2.20\"]\n",
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

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn wrong_arguments_are_usage_errors_naming_the_problem() {
    let dir = project();
    let cases: &[(&[&str], &[&str])] = &[
        (&["deploy", "--bogus"], &["--bogus"]),
        (
            &["deploy", "-h", "192.0.2.99"],
            &["192.0.2.99", "hosts: 192.0.2.10"],
        ),
        (&["deploy", "-r", "db"], &["db", "roles: web, worker"]),
        (&["rollback", "-h", "nohost*"], &["nohost*"]),
        (&["rollback", "v1", "v2"], &["v2"]),
        (&["versions", "-r", "cron"], &["cron"]),
        (&["app"], &["Usage"]),
        (&["app", "frobnicate"], &["frobnicate"]),
        (&["app", "exec"], &["required"]),
        (&["app", "logs", "-n", "many"], &["many"]),
        (&["app", "details", "-h", "10.9.9.9"], &["10.9.9.9"]),
        (&["app", "maintenance", "--mesage", "x"], &["--mesage"]),
        (&["lock"], &["Usage"]),
        (&["lock", "acquire"], &["-m", "required"]),
        (&["lock", "steal"], &["steal"]),
        (&["server"], &["Usage"]),
        (&["server", "exec"], &["required"]),
        // Flags go before the command: everything after it is the command (like ssh).
        (&["server", "exec", "-r", "nope", "true"], &["nope"]),
        (&["details", "-h", "x.example"], &["x.example"]),
        (&["audit", "-r", "ghost"], &["ghost"]),
        (&["prune", "--all-of-it"], &["--all-of-it"]),
        (&["config", "extra"], &["extra"]),
        (&["init", "--force-it"], &["--force-it"]),
        (&["nonsense"], &["nonsense"]),
        (&["remove", "--everything"], &["--everything"]),
        (&["proxy", "reboot", "--slowly"], &["--slowly"]),
        (&["proxy", "logs", "--since", "yesterday"], &["yesterday"]),
        (&["accessory", "boot"], &["<NAME>"]),
        (&["accessory", "explode", "db"], &["explode"]),
        (&["accessory", "exec", "db"], &["<CMD>"]),
        (&["setup", "-h", "new.example"], &["new.example"]),
        (&["deploy", "-d", "nowhere"], &["nowhere"]),
        (&["deploy", "--version", "bad tag!"], &["bad tag!"]),
    ];
    for (args, wants) in cases {
        let out = dhow(dir.path(), args);
        let t = text(&out);
        let code = out.status.code();
        // A missing destination file is a config problem (3); all else is usage (2).
        let expected = if args.contains(&"nowhere") { 3 } else { 2 };
        assert_eq!(code, Some(expected), "dhow {args:?} -> {code:?}:\n{t}");
        for w in *wants {
            assert!(t.contains(w), "dhow {args:?} must name {w:?}:\n{t}");
        }
        assert!(
            !t.contains("192.0.2.10: ") || args.contains(&"192.0.2.99"),
            "dhow {args:?} reached for a host:\n{t}"
        );
    }
}

#[test]
fn with_json_a_usage_error_is_an_error_event() {
    let dir = project();
    for args in [
        &["deploy", "--bogus", "--json"][..],
        &["--json", "deplyo"][..],
    ] {
        let out = dhow(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let line = String::from_utf8_lossy(&out.stdout);
        let event: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {line}"));
        assert_eq!(event["event"], "error");
        assert_eq!(event["exit_code"], 2);
        assert!(event["usage"].is_string(), "{event}");
        assert!(
            !event["message"].as_str().unwrap().starts_with("error:"),
            "{event}"
        );
    }
}

#[test]
fn help_on_any_command_prints_help_and_does_nothing() {
    let dir = project();
    for args in [
        &["rollback", "--help"][..],
        &["deploy", "--help"],
        &["app", "exec", "--help"],
        &["lock", "release", "--help"],
        &["server", "exec", "--help"],
        &["help", "rollback"],
    ] {
        let out = dhow(dir.path(), args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "dhow {args:?}:\n{t}");
        assert!(t.contains("Usage: dhow"), "dhow {args:?}:\n{t}");
        assert!(
            !t.contains("192.0.2"),
            "dhow {args:?} reached for a host:\n{t}"
        );
    }
}

#[test]
fn aliases_from_the_config_become_commands() {
    let dir = project();
    // `cfg` = `config`: prints the merged config.
    let out = dhow(dir.path(), &["cfg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("service = \"app\""), "{}", text(&out));
    // With the destination flag before the alias, the destination's config is used.
    let out = dhow(dir.path(), &["-d", "staging", "cfg"]);
    assert!(text(&out).contains("192.0.2.20"), "{}", text(&out));
    // Global flags inside the alias and extra words after it both apply: an unknown host
    // given after the alias is still refused as usage, naming it.
    let out = dhow(dir.path(), &["web-ver", "-h", "10.1.1.1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("10.1.1.1"), "{}", text(&out));
    // An unknown word that is no alias stays an unknown command.
    let out = dhow(dir.path(), &["consle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("consle"), "{}", text(&out));
}

#[test]
fn ssl_without_certificate_files_plans_automatic_certificates() {
    let dir = project();
    let mut config = std::fs::read_to_string(dir.path().join("config/deploy.toml")).unwrap();
    config.push_str(
        "\n[proxy]\nhost = \"shop.example.com\"\nssl = true\nacme_email = \"ops@example.com\"\n",
    );
    std::fs::write(dir.path().join("config/deploy.toml"), config).unwrap();
    let out = dhow(dir.path(), &["deploy", "--dry-run", "--version", "v1"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(
            "https: the proxy obtains and renews certificates for shop.example.com (ACME)"
        ),
        "{said}"
    );
}

#[test]
fn releasing_someone_elses_lock_takes_force_and_help_says_so() {
    let dir = project();
    let out = dhow(dir.path(), &["lock", "release", "--help"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("--force"), "{t}");
    assert!(t.contains("someone else"), "{t}");
    let out = dhow(dir.path(), &["lock", "release", "--forse"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
