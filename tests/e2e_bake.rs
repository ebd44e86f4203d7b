//! End-to-end: a bake window (`[deploy] bake`) on both sandbox hosts, real binaries, real load.
//! - a version that passes its health check but answers 500 to 30 % of `/`
//!   (`DEMO_FAIL_PERCENT=30`): deployed under load, the proxies switch back by themselves
//!   within the window, the deploy exits non-zero naming the numbers, the old version serves
//!   again on both hosts (a load after it: 0 failed), the new containers are stopped, and the
//!   audit log says so;
//! - a healthy version with the same window: the deploy finishes after it and the old
//!   containers stop;
//! - a failing version as a canary (`deploy --canary 50` with the window): the proxies abort
//!   it by themselves, the deploy fails naming the numbers, its containers are stopped.
//!
//! Service `bak`, on its own so it shares no route with another test.

mod support;

use std::time::{Duration, Instant};
use support::load::Load;
use support::{config, text, version_on, Project, Sandbox};

const SVC: &str = "bak";
const WINDOW: &str = "[deploy]\nbake = \"8s\"\nbake_max_error_rate = 0.05\n";

fn running(sb: &Sandbox, i: usize) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(i),
        &format!("docker ps --filter label=dhow.service={SVC} --format '{{{{.Names}}}}'"),
    );
    let mut list: Vec<String> = text(&out).lines().map(str::to_string).collect();
    list.sort();
    list
}

fn load(sb: &Sandbox) -> Vec<Load> {
    let host = format!("{SVC}.test");
    sb.hosts()
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), &host, "/", 16))
        .collect()
}

#[test]
fn a_failing_version_is_rolled_back_by_the_proxies_and_a_healthy_one_finishes() {
    let sb = Sandbox::load();
    let p = Project::new(&config(&sb, SVC, ""));
    p.dhow(&["remove", "-y"]);
    p.dhow_ok(&["deploy", "--version", "b1"]);

    // 30 % of `/` fail: rolled back within the window.
    p.write(
        "config/deploy.toml",
        &config(
            &sb,
            SVC,
            &format!("{WINDOW}\n[env]\nclear = {{ DEMO_FAIL_PERCENT = \"30\" }}\n"),
        ),
    );
    let out = text(&p.dhow_ok(&["deploy", "--version", "b2", "--dry-run"]));
    assert!(out.contains("8s bake window"), "{out}");
    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let out = p.dhow(&["deploy", "--version", "b2"]);
    let took = started.elapsed();
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("failed its bake window"), "{msg}");
    assert!(
        msg.contains("5xx rate") && msg.contains("over the limit of 5.0%"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    for r in l.into_iter().map(Load::stop) {
        // The failing version's own 500s reached clients until the switch back.
        assert!(r.failed > 0 && r.bodies.contains_key("demo b2"), "{r:?}");
        assert!(
            r.failures.iter().all(|f| f.contains("500")),
            "{:?}",
            r.failures
        );
    }
    let after = load(&sb);
    std::thread::sleep(Duration::from_millis(1000));
    for r in after.into_iter().map(Load::stop) {
        assert_eq!(r.failed, 0, "after the rollback: {:?}", r.failures);
        assert_eq!(r.bodies.keys().collect::<Vec<_>>(), ["demo b1"]);
    }
    for i in [1, 2] {
        assert_eq!(running(&sb, i), ["bak-web-b1"], "host {i}");
    }
    let audit = text(&p.dhow_ok(&["audit"]));
    assert!(
        audit.contains("failed") && audit.contains("5xx rate"),
        "{audit}"
    );

    // A healthy version with the same window: finishes, the old containers stop.
    p.write("config/deploy.toml", &config(&sb, SVC, WINDOW));
    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    p.dhow_ok(&["deploy", "--version", "b3"]);
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "the window was not waited for"
    );
    for r in l.into_iter().map(Load::stop) {
        assert_eq!(r.failed, 0, "{:?}", r.failures);
    }
    for i in [1, 2] {
        assert_eq!(running(&sb, i), ["bak-web-b3"], "host {i}");
        assert_eq!(version_on(&sb, &sb.hosts()[i - 1], SVC), "demo b3");
    }

    // The failing version as a canary: aborted by the proxies within the window.
    p.write(
        "config/deploy.toml",
        &config(
            &sb,
            SVC,
            &format!("{WINDOW}\n[env]\nclear = {{ DEMO_FAIL_PERCENT = \"30\" }}\n"),
        ),
    );
    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    let out = p.dhow(&["deploy", "--canary", "50", "--version", "b4"]);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("canary failed its bake window") && msg.contains("5xx rate"),
        "{msg}"
    );
    for r in l.into_iter().map(Load::stop) {
        assert!(
            r.failures.iter().all(|f| f.contains("500")),
            "{:?}",
            r.failures
        );
    }
    for i in [1, 2] {
        assert_eq!(
            running(&sb, i),
            ["bak-web-b3"],
            "host {i} after the canary's abort"
        );
    }
    let status = text(&p.dhow_ok(&["rollout", "status"]));
    assert!(status.contains("no canary"), "{status}");
    p.dhow_ok(&["remove", "-y"]);
}
