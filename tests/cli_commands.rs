//! Commands as Kamal users write them, against the real binary and no host: command strings
//! are split the way a shell would (role `cmd`, `[aliases]`, `app exec "…"`), `--help` after a
//! trailing command or an alias prints help, duration flags never panic, and `dhow init`
//! writes a `.dockerignore` that keeps `.dhow/` out (never overwriting one). The hosts do
//! not exist (192.0.2.x): a command that tried to reach one would fail differently.

use std::process::{Command, Output};

const CONFIG: &str = r#"service = "app"
image = "org/app"
[servers.web]
hosts = ["192.0.2.10"]
cmd = "bin/jobs --queue \"high prio\" it\\'s"
[ssh]
connect_timeout = "1s"
[aliases]
console = "app exec -i --reuse \"bin/rails console\""
broken = "app exec \"bin/rails console"
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/deploy.toml"), CONFIG).unwrap();
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
fn a_role_cmd_string_is_split_as_a_shell_would() {
    let dir = project();
    let out = dhow(dir.path(), &["deploy", "--dry-run", "--version", "v1"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Three arguments after bin/jobs: --queue, "high prio", "it's".
    assert!(
        t.contains(r"cmd: bin/jobs --queue 'high prio' 'it'\''s'"),
        "{t}"
    );
}

#[test]
fn help_after_a_trailing_command_or_an_alias_prints_help() {
    let dir = project();
    for args in [
        &["app", "exec", "--help"][..],
        &["app", "exec", "bin/rails", "--help"],
        &["app", "exec", "-i", "\"bin/rails console\"", "--help"],
        &["server", "exec", "uptime", "--help"],
        &["console", "--help"],
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
    let t = text(&dhow(dir.path(), &["console", "--help"]));
    assert!(
        t.contains(
            r#"`dhow console` is an alias for `dhow app exec -i --reuse "bin/rails console"`"#
        ),
        "{t}"
    );
    assert!(t.contains("Usage: dhow app exec"), "{t}");
}

#[test]
fn unsplittable_commands_are_refused_before_any_host() {
    let dir = project();
    // An alias with an unclosed quote: a config error naming the alias.
    let out = dhow(dir.path(), &["broken"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("aliases.broken") && t.contains("quote"), "{t}");
    assert!(!t.contains("192.0.2"), "{t}");
}

#[test]
fn duration_flags_that_overflow_are_usage_errors_not_panics() {
    let dir = project();
    for value in ["99999999999999999h", "-1s", "5 parsecs", ""] {
        let flag = format!("--lock-wait={value}");
        let out = dhow(dir.path(), &["deploy", "--version", "v1", &flag]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "--lock-wait {value:?}:\n{t}");
        assert!(t.contains("duration"), "--lock-wait {value:?}:\n{t}");
        assert!(!t.contains("panicked"), "{t}");
    }
    let out = dhow(dir.path(), &["app", "logs", "--since", "1h30m", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn init_writes_a_dockerignore_that_keeps_dhow_out_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dhow(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let ignore = std::fs::read_to_string(dir.path().join(".dockerignore")).unwrap();
    for line in [".dhow/", ".git/", "target/"] {
        assert!(ignore.lines().any(|l| l == line), "{line} in:\n{ignore}");
    }

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(".dockerignore"), "mine\n").unwrap();
    let out = dhow(other.path(), &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(other.path().join(".dockerignore")).unwrap(),
        "mine\n"
    );
}
