//! Example 1 end to end (examples/single-to-lb), in two stages:
//! - `single`: `dhow setup` on the sandbox's fresh host (no Docker) installs Docker, turns on
//!   the firewall and hardening, boots PostgreSQL and the backup accessory, and deploys. The
//!   backup dumps the database on its schedule into a volume; the documented restore is run:
//!   a row written, a backup taken after it, the table dropped (the app's /db fails), restored
//!   with `dhow accessory exec backup restore.sh`, the row back.
//! - `pair`: the same app on two hosts behind haproxy on this machine's loopback (a real load
//!   balancer, health-checking both). A deploy, a rollback and a deploy whose health check
//!   fails (rolled back: the old version keeps serving), all under load through the LB: 0
//!   failed requests.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::example::{free_port, wait_port, Example, Reaped};
use support::load::Load;
use support::{http_get, text};

const HOST: &str = "shop.test";

fn rows(addr: &str) -> (u16, String) {
    http_get(addr, HOST, "/db").expect("GET /db")
}

/// The dumps in the backup volume, oldest first.
fn dumps(ex: &Example) -> Vec<String> {
    let out = ex.dhow_ok(&[
        "accessory",
        "exec",
        "-d",
        "single",
        "backup",
        "ls",
        "/backups",
    ]);
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.ends_with("Z.dump"))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn psql(ex: &Example, sql: &str) {
    ex.dhow_ok(&[
        "accessory",
        "exec",
        "-d",
        "single",
        "db",
        "psql",
        "-U",
        "shop",
        "-d",
        "shop",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]);
}

/// Stage 1: one VPS from nothing, with its database backed up and restored.
fn single(ex: &Example) -> String {
    let fresh = ex.sb.var("SANDBOX_FRESH").to_string();
    let addr = ex.sb.http_addr(&fresh);
    let out = ex.dhow_ok(&["setup", "-d", "single", "--version", "v1"]);
    let t = text(&out);
    for step in ["SSH password logins turned off", "firewall on"] {
        assert!(t.contains(step), "setup did not say {step:?}: {t}");
    }
    let c = ex.sb.var("SANDBOX_FRESH_CONTAINER").to_string();
    let sshd = ex
        .sb
        .docker_exec(&c, "sshd -T | grep -i '^passwordauthentication'");
    assert_eq!(text(&sshd).trim(), "passwordauthentication no");
    let nft = ex
        .sb
        .docker_exec(&c, "nft list table inet dhow_firewall >/dev/null");
    assert!(nft.status.success(), "no firewall table: {}", text(&nft));
    assert_eq!(
        http_get(&addr, HOST, "/").unwrap(),
        (200, "shop v1\n".into())
    );
    assert_eq!(rows(&addr), (200, "opened the shop\n".into()));

    // Backup and restore, as README.md documents them.
    psql(ex, "INSERT INTO notes (note) VALUES ('first order')");
    let written = dumps(ex);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Two new dumps: the second one surely started after the write.
    while dumps(ex).iter().filter(|d| !written.contains(d)).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no backup after the write: {written:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let after = dumps(ex);
    psql(ex, "DROP TABLE notes");
    let (status, body) = rows(&addr);
    assert_eq!(status, 503, "the table is gone: {body}");
    ex.dhow_ok(&["accessory", "exec", "-d", "single", "backup", "restore.sh"]);
    assert_eq!(
        rows(&addr),
        (200, "opened the shop\nfirst order\n".into()),
        "restored from {after:?}"
    );
    format!("setup (Docker, firewall, hardening) on the fresh host, PostgreSQL + scheduled backup, {} dumps, restore brought the dropped table back", after.len())
}

/// haproxy on 127.0.0.1 in front of both hosts' proxies, health-checking each one.
fn haproxy(dir: &std::path::Path, backends: &[String]) -> (Reaped, u16) {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "    server web{} {b} check inter 500ms fall 2 rise 2\n",
                i + 1
            )
        })
        .collect();
    let cfg = format!(
        "global\n    maxconn 1000\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\
         frontend lb\n    bind 127.0.0.1:{port}\n    default_backend web\n\
         backend web\n    balance roundrobin\n    option httpchk\n    http-check send meth GET uri /up ver HTTP/1.1 hdr Host {HOST}\n{servers}"
    );
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let check = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(dir.join("haproxy.cfg"))
        .output()
        .expect("haproxy (Debian's package; make deps installs it)");
    assert!(check.status.success(), "haproxy.cfg: {}", text(&check));
    let child = Reaped::spawn(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(dir.join("haproxy.cfg")),
        &dir.join("haproxy.log"),
    );
    wait_port(port, "haproxy");
    (child, port)
}

/// Stage 2: two web servers behind the LB; deploy, rollback and a failing deploy under load.
fn pair(ex: &Example) -> (String, u64) {
    let (h1, h2) = (ex.host(1), ex.host(2));
    ex.dhow(&["remove", "-d", "pair", "-y"]);
    ex.dhow_ok(&["deploy", "-d", "pair", "--version", "v1"]);
    let work = tempfile::tempdir().unwrap();
    let (_lb, port) = haproxy(work.path(), &[ex.sb.http_addr(&h1), ex.sb.http_addr(&h2)]);
    let lb = format!("127.0.0.1:{port}");
    assert_eq!(http_get(&lb, HOST, "/").unwrap(), (200, "shop v1\n".into()));

    let mut failed = 0;
    let mut ok = 0;
    let mut under_load = |args: &[&str], expect_ok: bool, versions: &[&str]| {
        let load = Load::start(&lb, HOST, "/", 4);
        std::thread::sleep(Duration::from_millis(500));
        let out = ex.dhow(args);
        assert_eq!(
            out.status.success(),
            expect_ok,
            "dhow {args:?}:\n{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
        let r = load.stop();
        assert_eq!(
            r.failed, 0,
            "dhow {args:?}: failed through the LB: {:?}",
            r.failures
        );
        let seen: Vec<&str> = r.bodies.keys().map(String::as_str).collect();
        assert_eq!(seen, versions, "dhow {args:?}: versions answered");
        failed += r.failed;
        ok += r.ok;
    };
    under_load(
        &["deploy", "-d", "pair", "--version", "v2"],
        true,
        &["shop v1", "shop v2"],
    );
    under_load(
        &["rollback", "-d", "pair", "v1"],
        true,
        &["shop v1", "shop v2"],
    );
    // A release whose health check fails: never switched to, the old version keeps serving.
    let pair_file = ex.dir().join("config/deploy.pair.toml");
    let conf = std::fs::read_to_string(&pair_file).unwrap();
    std::fs::write(
        &pair_file,
        conf.replace("[env.clear]\n", "[env.clear]\nDEMO_HEALTHY = \"false\"\n"),
    )
    .unwrap();
    under_load(
        &["deploy", "-d", "pair", "--version", "v3"],
        false,
        &["shop v1"],
    );
    std::fs::write(&pair_file, conf).unwrap();
    // v3 was started and health-checked on each host, then stopped: not a refusal before it.
    for i in [1, 2] {
        let v3 = ex.sb.docker_exec(
            &ex.sb.container(i),
            "docker ps -a --filter label=dhow.version=v3 --filter label=dhow.service=shop --format '{{.State}}'",
        );
        assert_eq!(text(&v3).trim(), "exited", "host {i}: v3 {}", text(&v3));
    }
    for h in [&h1, &h2] {
        assert_eq!(
            http_get(&ex.sb.http_addr(h), HOST, "/").unwrap(),
            (200, "shop v1\n".into())
        );
    }
    ex.dhow(&["remove", "-d", "pair", "-y"]);
    (
        format!("2 hosts behind haproxy: deploy v2, rollback to v1, failing v3 rolled back ({ok} requests through the LB)"),
        failed,
    )
}

#[test]
fn one_vps_with_backups_then_two_web_servers_behind_a_load_balancer() {
    let ex = Example::copy("single-to-lb");
    ex.sb.reset_fresh();
    let _after = support::ResetFreshAfter(&ex.sb);
    let stage1 = single(&ex);
    let (stage2, failed) = pair(&ex);
    summary_line(&stage1, &stage2, failed);
}

fn summary_line(stage1: &str, stage2: &str, failed: u64) {
    support::example::summary("single-to-lb", &format!("{stage1}; {stage2}"), Some(failed));
}
