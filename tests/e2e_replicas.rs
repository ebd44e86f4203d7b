//! End-to-end: `[servers.web] replicas = 3` on both sandbox hosts, real binaries and load.
//! - each host runs three containers of the version, and the proxy spreads requests over all
//!   three (each container's own access log counts them);
//! - a deploy under 64 keep-alive connections switches all three at once: 0 failed, three new
//!   running, three old stopped and kept (a rollback starts all three again);
//! - one replica stopped under load: only requests in flight on it may fail (at most one per
//!   connection), the proxy takes it out (`dhow proxy details`), it gets no requests while
//!   down, and once started again it is health-checked back and balanced to.
//!
//! Service `rep`, on its own so it shares no route with another test.

mod support;

use std::time::{Duration, Instant};
use support::load::Load;
use support::{config_with_servers, text, Project, Sandbox};

const SVC: &str = "rep";

/// Requests to `/` in container `name`'s own log on host i (the demo logs one JSON line each).
fn served(sb: &Sandbox, i: usize, name: &str) -> usize {
    let out = sb.docker_exec(&sb.container(i), &format!("docker logs {name} 2>&1"));
    text(&out)
        .lines()
        .filter(|l| l.contains("\"path\":\"/\""))
        .count()
}

/// `name state` of the service's containers on host i, sorted.
fn containers(sb: &Sandbox, i: usize) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(i),
        &format!("docker ps -a --filter label=dhow.service={SVC} --format '{{{{.Names}}}} {{{{.State}}}}'"),
    );
    let mut list: Vec<String> = text(&out).lines().map(str::to_string).collect();
    list.sort();
    list
}

fn names(version: &str) -> [String; 3] {
    let base = format!("{SVC}-web-{version}");
    [base.clone(), format!("{base}-r2"), format!("{base}-r3")]
}

#[test]
fn replicas_are_balanced_switched_together_and_taken_out_while_down() {
    let sb = Sandbox::load();
    let hosts: Vec<String> = sb.hosts().iter().map(|h| format!("\"{h}\"")).collect();
    let p = Project::new(&config_with_servers(
        &sb,
        SVC,
        &format!(
            "servers = {{ web = {{ hosts = [{}], replicas = 3 }} }}",
            hosts.join(", ")
        ),
        "",
    ));
    p.dhow(&["remove", "-y"]);
    let out = text(&p.dhow_ok(&["deploy", "--version", "r1", "--dry-run"]));
    assert!(out.contains("start 3 replicas"), "{out}");
    p.dhow_ok(&["deploy", "--version", "r1"]);
    let addr = sb.http_addr(&sb.hosts()[0]);
    let host = format!("{SVC}.test");
    for i in [1, 2] {
        let want: Vec<String> = names("r1").iter().map(|n| format!("{n} running")).collect();
        assert_eq!(containers(&sb, i), want, "host {i}");
    }

    // Spread: 8 connections for a second; every replica serves a fair part.
    let before: Vec<usize> = names("r1").iter().map(|n| served(&sb, 1, n)).collect();
    let spread = Load::start(&addr, &host, "/", 8);
    std::thread::sleep(Duration::from_secs(1));
    let r = spread.stop();
    assert_eq!(r.failed, 0, "{:?}", r.failures);
    let counts: Vec<usize> = names("r1")
        .iter()
        .zip(&before)
        .map(|(n, b)| served(&sb, 1, n) - b)
        .collect();
    let total: usize = counts.iter().sum();
    assert!(total as u64 >= r.ok, "logs {counts:?} < answered {}", r.ok);
    for c in &counts {
        assert!(*c * 10 >= total, "one replica got under 10%: {counts:?}");
    }

    // A deploy under 64 + 16 keep-alive connections.
    let load = [
        Load::start(&addr, &host, "/", 64),
        Load::start(&sb.http_addr(&sb.hosts()[1]), &host, "/", 16),
    ];
    std::thread::sleep(Duration::from_millis(500));
    p.dhow_ok(&["deploy", "--version", "r2"]);
    std::thread::sleep(Duration::from_millis(500));
    let reports: Vec<_> = load.into_iter().map(Load::stop).collect();
    let deployed_under: u64 = reports.iter().map(|r| r.ok).sum();
    for r in &reports {
        assert_eq!(
            r.failed, 0,
            "requests failed during the deploy: {:?}",
            r.failures
        );
        assert!(r.bodies.contains_key("demo r2"), "{:?}", r.bodies);
    }
    for i in [1, 2] {
        let mut want: Vec<String> = names("r1").iter().map(|n| format!("{n} exited")).collect();
        want.extend(names("r2").iter().map(|n| format!("{n} running")));
        want.sort();
        assert_eq!(containers(&sb, i), want, "host {i}");
    }
    let details = text(&p.dhow_ok(&["proxy", "details"]));
    assert!(details.contains("rep-web-r2-r3:3000: healthy"), "{details}");

    // One replica stopped under load: taken out; started again: back.
    let victim = &names("r2")[1];
    let load = Load::start(&addr, &host, "/", 16);
    std::thread::sleep(Duration::from_millis(500));
    sb.docker_exec(&sb.container(1), &format!("docker stop -t 0 {victim}"));
    std::thread::sleep(Duration::from_millis(1500));
    let details = text(&p.dhow_ok(&["proxy", "details", "-h", &sb.hosts()[0]]));
    assert!(
        details.contains(&format!("{victim}:3000: taken out")),
        "{details}"
    );
    let while_down = served(&sb, 1, victim);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(served(&sb, 1, victim), while_down, "routed while down");
    sb.docker_exec(&sb.container(1), &format!("docker start {victim}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while served(&sb, 1, victim) == while_down {
        assert!(
            Instant::now() < deadline,
            "{victim} never got requests again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = load.stop();
    assert!(
        r.failed <= 16,
        "more failed than were in flight on the stopped replica: {} {:?}",
        r.failed,
        r.failures
    );

    // A rollback starts all three of r1.
    p.dhow_ok(&["rollback", "r1"]);
    for i in [1, 2] {
        let running: Vec<String> = containers(&sb, i)
            .into_iter()
            .filter(|c| c.ends_with(" running"))
            .collect();
        let want: Vec<String> = names("r1").iter().map(|n| format!("{n} running")).collect();
        assert_eq!(running, want, "host {i}");
    }
    p.dhow(&["remove", "-y"]);
    eprintln!(
        "replicas: spread {counts:?} of {total}; deploy under 80 connections: {deployed_under} requests, 0 failed; \
         one replica stopped under 16: {} failed (in flight on it), {} answered",
        r.failed, r.ok
    );
}
