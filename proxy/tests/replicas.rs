//! Several targets per service with the real dhow-proxy binary and real backends: a deploy
//! to three under 64 keep-alive connections balances over all of them with no failed
//! request; a target failing its health check is taken out and comes back; a target that
//! stops (connections refused) loses no request that had not reached it; one of three never
//! healthy fails the deploy with the old set serving; a restart keeps the set.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn targets_args<'a>(service: &'a str, targets: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["deploy", service, "--health-interval", "50ms"];
    for t in targets {
        args.extend(["--target", t.as_str()]);
    }
    args.extend_from_slice(extra);
    args
}

fn fails(report: &LoadReport) -> usize {
    report.non_2xx.len() + report.errors.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_to_three_targets_balances_over_all_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let old = Backend::start("old").await;
    let new: Vec<Backend> = futures::future::join_all((1..=3).map(|i| {
        let name = format!("new-{i}");
        async move { Backend::start(&name).await }
    }))
    .await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &old.target(), &["--host", "app.test"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.http, "app.test", 64, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addrs: Vec<String> = new.iter().map(Backend::target).collect();
    let (ok, out) = proxy
        .ctl_async(&targets_args("app", &addrs, &["--host", "app.test"]))
        .await;
    assert!(ok, "{out}");
    assert!(out.contains("\"unfinished_after_drain\":0"), "{out}");
    assert!(
        out.contains(&format!("\"targets\":[\"{}\"", addrs[0])),
        "{out}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_switch: Vec<u64> = new.iter().map(Backend::served).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let report = load.await.unwrap();
    assert_eq!(fails(&report), 0, "{report:?}");
    for (b, before) in new.iter().zip(&at_switch) {
        assert!(
            b.served() > *before,
            "{} got no requests: {report:?}",
            b.name
        );
        assert!(report.bodies.contains_key(&b.name), "{:?}", report.bodies);
    }
    let (_, list) = proxy.ctl(&["list"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let targets = &list["services"][0]["targets"];
    assert_eq!(targets.as_array().map(Vec::len), Some(3), "{list}");
    assert!(targets
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["healthy"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unhealthy_or_stopped_target_is_taken_out_and_requests_go_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut backends = Vec::new();
    for i in 1..=3 {
        backends.push(Backend::start(&format!("b{i}")).await);
    }
    let proxy = ProxyProc::start(dir.path(), &[]);
    let addrs: Vec<String> = backends.iter().map(Backend::target).collect();
    let (ok, out) = proxy.ctl(&targets_args("app", &addrs, &[]));
    assert!(ok, "{out}");

    // Active health: b2 fails its check, gets no new requests, then comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let run = load(proxy.http, "any.test", 16, stop.clone());
    backends[1].healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let out_at = backends[1].served();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        backends[1].served() <= out_at + 16,
        "an unhealthy target kept getting requests"
    );
    backends[1].healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let back_at = backends[1].served();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(backends[1].served() > back_at, "it never came back");

    // Passive health: b3 stops (its connections closed, new ones refused). Its answers are
    // immediate, so at most the load's 16 connections can have had a request on it.
    backends[2].stop();
    // Requests it had already taken may still finish: count from a moment later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped_at = backends[2].served();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    let report = run.await.unwrap();
    assert!(fails(&report) <= 16, "{report:?}");
    assert_eq!(backends[2].served(), stopped_at);
    let (_, list) = proxy.ctl(&["list"]);
    assert!(
        list.contains(&format!(
            "{{\"healthy\":false,\"inflight\":0,\"target\":\"{}\"}}",
            addrs[2]
        )),
        "{list}"
    );
    // And new requests after it stopped all succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let run = load(proxy.http, "any.test", 16, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let report = run.await.unwrap();
    assert_eq!(fails(&report), 0, "{report:?}");
    assert!(report.ok > 0 && !report.bodies.contains_key("b3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unhealthy_new_target_fails_the_deploy_and_a_restart_keeps_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let bad = Backend::start_with("bad", false).await;
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    let first = vec![a.target(), b.target()];
    let (ok, out) = proxy.ctl(&targets_args("app", &first, &[]));
    assert!(ok, "{out}");
    let with_bad = vec![a.target(), bad.target()];
    let (ok, out) = proxy.ctl(&targets_args("app", &with_bad, &["--deploy-timeout", "1s"]));
    assert!(!ok && out.contains("did not become healthy"), "{out}");
    assert!(out.contains(&bad.target()), "{out}");
    assert_eq!(bad.served(), 0);
    proxy.kill();
    let proxy = ProxyProc::start(dir.path(), &[]);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (status, body) = get(proxy.http, "any.test", "/").await;
        if status == 200 {
            seen.insert(body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b"]);
}
