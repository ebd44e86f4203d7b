//! Example 3 end to end (examples/readiness-redis): readiness-gated blue/green on two hosts
//! with a Redis accessory. The app is alive at once but ready 4 s later (READY_DELAY), and the
//! proxy checks the readiness path. Under load (fast requests and 500 ms ones) a redeploy:
//! - while the new container is alive (`/health/live` 200, asked directly on the host) and
//!   not ready (`/health/ready` 503), every request is answered by the old version: the new
//!   container's own access log shows no routed request before its first ready answer;
//! - then traffic switches, requests in flight on the old one finish (drain), the old one is
//!   stopped: 0 failed requests;
//! - the counter the app keeps in Redis carries on across the versions.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::example::{summary, Example};
use support::load::Load;
use support::{http_get, text};

const HOST: &str = "petforce.test";

/// `GET /cache` on a host: the Redis counter's value.
fn hits(addr: &str) -> u64 {
    let (status, body) = http_get(addr, HOST, "/cache").expect("GET /cache");
    assert_eq!(status, 200, "/cache: {body}");
    body.trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("/cache answered {body:?}"))
}

/// On a sandbox host, poll the container of `version` directly (not through the proxy) for
/// its liveness and readiness every 200 ms: lines `LIVE READY` of HTTP statuses.
fn probe_directly(container: &str, version: &str) -> std::process::Child {
    let script = format!(
        r#"for i in $(seq 1 300); do
  id=$(docker ps -q --filter label=dhow.version={version} --filter label=dhow.service=petforce)
  if [ -n "$id" ]; then
    ip=$(docker inspect -f '{{{{range .NetworkSettings.Networks}}}}{{{{.IPAddress}}}}{{{{end}}}}' $id)
    live=$(curl -s -m 1 -o /dev/null -w '%{{http_code}}' http://$ip:3000/health/live)
    ready=$(curl -s -m 1 -o /dev/null -w '%{{http_code}}' http://$ip:3000/health/ready)
    echo "$live $ready"
    [ "$ready" = 200 ] && exit 0
  fi
  sleep 0.2
done"#
    );
    Command::new("docker")
        .args(["exec", container, "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker exec")
}

/// The new container's log on host i: paths in order, with their statuses.
fn access_log(ex: &Example, i: usize, version: &str) -> Vec<(String, u16)> {
    let out = ex.sb.docker_exec(
        &ex.sb.container(i),
        &format!("docker logs $(docker ps -aq --filter label=dhow.version={version} --filter label=dhow.service=petforce)"),
    );
    assert!(out.status.success(), "docker logs: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let path = v["path"].as_str().unwrap_or("").to_string();
            (path, v["status"].as_u64().unwrap_or(0) as u16)
        })
        .collect()
}

#[test]
fn readiness_gated_blue_green_with_redis_under_load() {
    let ex = Example::copy("readiness-redis");
    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    let (h1, h2) = (ex.host(1), ex.host(2));
    let (a1, a2) = (ex.sb.http_addr(&h1), ex.sb.http_addr(&h2));

    ex.dhow_ok(&["accessory", "boot", "redis", "-d", "sandbox"]);
    ex.dhow_ok(&["deploy", "-d", "sandbox", "--version", "v1"]);
    for a in [&a1, &a2] {
        assert_eq!(
            http_get(a, HOST, "/").unwrap(),
            (200, "petforce v1\n".into())
        );
    }
    let before = hits(&a1);
    assert_eq!(hits(&a1), before + 1, "the counter lives in Redis");

    let probe = probe_directly(&ex.sb.container(1), "v2");
    let fast = [
        Load::start(&a1, HOST, "/", 3),
        Load::start(&a2, HOST, "/", 3),
    ];
    let slow = Load::start(&a1, HOST, "/slow?ms=500", 2);
    std::thread::sleep(Duration::from_millis(500));
    ex.dhow_ok(&["deploy", "-d", "sandbox", "--version", "v2"]);
    std::thread::sleep(Duration::from_millis(500));
    let reports: Vec<_> = fast.into_iter().map(Load::stop).collect();
    let slow = slow.stop();
    let failed: u64 = reports.iter().map(|r| r.failed).sum::<u64>() + slow.failed;
    for r in reports.iter().chain([&slow]) {
        assert_eq!(r.failed, 0, "requests failed: {:?}", r.failures);
    }
    let probe = probe.wait_with_output().expect("the probe");
    let probed: Vec<String> = BufReader::new(&probe.stdout[..])
        .lines()
        .map_while(Result::ok)
        .collect();
    // Alive but not ready, seen directly on the host: the lag is real.
    let lagging = probed.iter().filter(|l| l.as_str() == "200 503").count();
    assert!(
        lagging >= 3,
        "the new version was never seen alive and not ready: {probed:?}"
    );

    // No request was routed to the new container before it first said it was ready.
    for i in [1, 2] {
        let log = access_log(&ex, i, "v2");
        let first_ready = log
            .iter()
            .position(|(p, s)| p == "/health/ready" && *s == 200)
            .unwrap_or_else(|| panic!("host {i}: v2 was never ready: {log:?}"));
        let routed_early: Vec<_> = log[..first_ready]
            .iter()
            .filter(|(p, _)| !p.starts_with("/health/"))
            .collect();
        assert!(
            routed_early.is_empty(),
            "host {i}: routed before ready: {routed_early:?}"
        );
        assert!(
            log[..first_ready]
                .iter()
                .any(|(p, s)| p == "/health/ready" && *s == 503),
            "host {i}: the proxy never saw v2 not ready: {log:?}"
        );
    }
    let mut bodies = std::collections::BTreeMap::new();
    for r in &reports {
        for (k, v) in &r.bodies {
            *bodies.entry(k.clone()).or_insert(0u64) += v;
        }
    }
    assert!(
        bodies.contains_key("petforce v1") && bodies.contains_key("petforce v2"),
        "{bodies:?}"
    );
    assert!(slow.ok > 0, "no slow request was answered");
    for a in [&a1, &a2] {
        assert_eq!(
            http_get(a, HOST, "/").unwrap(),
            (200, "petforce v2\n".into())
        );
    }
    // The old version is stopped, kept for rollback.
    let old = ex.sb.docker_exec(
        &ex.sb.container(1),
        "docker ps -a --filter label=dhow.version=v1 --filter label=dhow.service=petforce --format '{{.State}}'",
    );
    assert_eq!(
        text(&old).trim(),
        "exited",
        "the old container: {}",
        text(&old)
    );
    assert!(
        hits(&a1) > before + 1,
        "the Redis counter carried on across versions"
    );
    let ok: u64 = reports.iter().map(|r| r.ok).sum::<u64>() + slow.ok;
    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    summary(
        "readiness-redis",
        &format!(
            "2 hosts, Redis accessory, v1 -> v2 with a 4 s readiness lag ({lagging} direct probes alive and not ready, \
             no request routed before ready), {ok} requests ({} of 500 ms, drained), old version stopped",
            slow.ok
        ),
        Some(failed),
    );
}
