//! A deploy's bake window with the real dhow-proxy binary and real backends: a new target
//! that passes its health check but answers 500 to every third request is switched back
//! from by the proxy itself within the window (the old target serves again, the reason names
//! the numbers); a healthy one with the same window is kept and the old one drained.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn baked_deploy(target: &str) -> String {
    serde_json::json!({
        "target": target, "hosts": ["app.test"],
        "health": {"path": "/up", "interval_ms": 50, "timeout_ms": 1000},
        "drain_timeout_ms": 2000,
        "bake": {"window_ms": 4000, "max_error_rate": 0.05, "min_requests": 50},
    })
    .to_string()
}

/// Wait for the bake's outcome.
async fn outcome(proxy: &ProxyProc) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = control_json(proxy, "GET", "/v1/services/app/bake", "")
            .await
            .1;
        if status["state"] != "baking" {
            return status;
        }
        assert!(Instant::now() < deadline, "the bake never ended: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_version_is_switched_back_from_and_a_healthy_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let old = Backend::start("old").await;
    let bad = Backend::start("bad").await;
    bad.fail_every.store(3, Ordering::SeqCst);
    let good = Backend::start("good").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &old.target(), &["--host", "app.test"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.http, "app.test", 16, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let answer = control_json(
        &proxy,
        "POST",
        "/v1/services/app/deploy",
        &baked_deploy(&bad.target()),
    )
    .await
    .1;
    assert_eq!(answer["baking_ms"], 4000, "{answer}");
    let status = outcome(&proxy).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "not within the window"
    );
    assert_eq!(status["state"], "rolled_back", "{status}");
    let reason = status["reason"].as_str().unwrap();
    assert!(
        reason.contains("5xx rate") && reason.contains("over the limit of 5.0%"),
        "{reason}"
    );
    assert!(status["new"]["errors"].as_u64().unwrap() > 0, "{status}");
    let served_then = bad.served();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bad.served(),
        served_then,
        "the failing target still gets requests"
    );
    assert_eq!(get(proxy.http, "app.test", "/").await.1, "old");
    let list = proxy.ctl(&["list"]).1;
    assert!(list.contains(&old.target()), "{list}");

    let answer = control_json(
        &proxy,
        "POST",
        "/v1/services/app/deploy",
        &baked_deploy(&good.target()),
    )
    .await
    .1;
    assert_eq!(answer["baking_ms"], 4000, "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_then = old.served();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        old.served(),
        old_then,
        "the old target is unrouted while baking"
    );
    let status = outcome(&proxy).await;
    assert_eq!(status["state"], "passed", "{status}");
    stop.store(true, Ordering::SeqCst);
    let report = load.await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report
            .non_2xx
            .iter()
            .all(|(s, b)| *s == 500 && b == "bad failed"),
        "only the failing version's own 500s: {:?}",
        report.non_2xx
    );
    assert_eq!(get(proxy.http, "app.test", "/").await.1, "good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_canary_aborts_itself_within_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let old = Backend::start("old").await;
    let bad = Backend::start("bad").await;
    bad.fail_every.store(3, Ordering::SeqCst);
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &old.target(), &["--host", "app.test"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.http, "app.test", 16, stop.clone());
    let canary = serde_json::json!({
        "targets": [bad.target()], "percent": 50, "version": "v2", "stable_version": "v1",
        "health": {"path": "/up", "interval_ms": 50, "timeout_ms": 1000},
        "bake": {"window_ms": 4000, "max_error_rate": 0.05, "min_requests": 50},
    });
    let started = Instant::now();
    let answer = control_json(
        &proxy,
        "POST",
        "/v1/services/app/canary",
        &canary.to_string(),
    )
    .await
    .1;
    assert_eq!(answer["canary"]["percent"], 50.0, "{answer}");
    let status = outcome(&proxy).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "not within the window"
    );
    assert_eq!(status["state"], "rolled_back", "{status}");
    assert!(
        status["reason"].as_str().unwrap().contains("5xx rate"),
        "{status}"
    );
    assert_eq!(status["old"]["errors"], 0, "{status}");
    let list = proxy.ctl(&["list"]).1;
    assert!(!list.contains("canary"), "aborted: {list}");
    let served_then = bad.served();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bad.served(), served_then, "the canary still gets requests");
    stop.store(true, Ordering::SeqCst);
    let report = load.await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}
