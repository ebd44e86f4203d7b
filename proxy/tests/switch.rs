//! Switching traffic with the real dhow-proxy binary and real backends: 20 switches under 64
//! keep-alive connections without one failed request, a target that never gets healthy, the
//! drain of slow in-flight requests, upgraded connections, and graceful shutdown.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_switches_under_64_connections_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("backend-a").await;
    let b = Backend::start("backend-b").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &["--host", "app.test"]);

    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.http, "app.test", 64, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..20 {
        let next = if i % 2 == 0 { &b } else { &a };
        let (ok, out) = proxy
            .deploy_async(
                "app",
                &next.target(),
                &["--host", "app.test", "--drain-timeout", "10s"],
            )
            .await;
        assert!(ok, "switch {i} to {} failed: {out}", next.name);
        assert!(
            out.contains("\"unfinished_after_drain\":0"),
            "switch {i}: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let report = load.await.unwrap();
    assert!(
        report.non_2xx.is_empty(),
        "{} non-2xx answers, first: {:?}",
        report.non_2xx.len(),
        report.non_2xx.first()
    );
    assert!(
        report.errors.is_empty(),
        "{} connection errors, first: {:?}",
        report.errors.len(),
        report.errors.first()
    );
    assert!(report.ok > 0);
    // Both backends' own counters show they served, and the clients saw both.
    assert!(
        a.served() > 0 && b.served() > 0,
        "a {} b {}",
        a.served(),
        b.served()
    );
    assert!(report.bodies.contains_key("backend-a") && report.bodies.contains_key("backend-b"));
    // After an even number of switches the last deploy went to backend-a.
    assert_eq!(get(proxy.http, "app.test", "/").await.1, "backend-a");
    eprintln!(
        "load: {} ok, per body {:?}, backends a {} b {}",
        report.ok,
        report.bodies,
        a.served(),
        b.served()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_gets_healthy_leaves_the_old_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let good = Backend::start("good").await;
    let bad = Backend::start_with("bad", false).await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &good.target(), &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.http, "any.test", 8, stop.clone());
    let (ok, out) = proxy
        .ctl_async(&[
            "deploy",
            "app",
            "--target",
            &bad.target(),
            "--health-interval",
            "100ms",
            "--deploy-timeout",
            "1500ms",
        ])
        .await;
    stop.store(true, Ordering::SeqCst);
    let report = load.await.unwrap();
    assert!(!ok, "a deploy to an unhealthy target must fail: {out}");
    assert!(
        out.contains("did not become healthy") && out.contains("503"),
        "the message says why: {out}"
    );
    assert!(out.contains("previous target keeps serving"), "{out}");
    assert!(
        report.non_2xx.is_empty() && report.errors.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.bodies.keys().collect::<Vec<_>>(), vec!["good"]);
    assert_eq!(bad.served(), 0, "the unhealthy target got no traffic");
    let (_, list) = proxy.ctl(&["list"]);
    assert!(list.contains(&good.target()), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_to_the_old_target_finish_after_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("old").await;
    let b = Backend::start("new").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);

    let mut slow = Vec::new();
    for _ in 0..5 {
        let addr = proxy.http;
        slow.push(tokio::spawn(async move {
            get(addr, "x.test", "/slow?ms=1500").await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let (ok, out) = proxy
        .deploy_async("app", &b.target(), &["--drain-timeout", "20s"])
        .await;
    assert!(ok, "{out}");
    // The switch answered only once the old target's slow requests were done.
    for s in slow {
        let (status, body) = s.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "old"));
    }
    assert!(out.contains("\"unfinished_after_drain\":0"), "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "deploy answered before the drain finished: {out}"
    );
    assert_eq!(get(proxy.http, "x.test", "/").await, (200, "new".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_connections_pass_through_and_close_after_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("old").await;
    let b = Backend::start("new").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);

    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 1024];
    let n = s.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert_eq!(status_of(&head), 101, "{head}");
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // The switch waits for the upgraded connection until the drain window ends, then closes it.
    let (ok, out) = proxy
        .deploy_async("app", &b.target(), &["--drain-timeout", "1s"])
        .await;
    assert!(ok, "{out}");
    assert!(out.contains("\"unfinished_after_drain\":1"), "{out}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the old upgraded connection was not closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);
    let addr = proxy.http;
    let slow = tokio::spawn(async move { get(addr, "x.test", "/slow?ms=1000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.sigterm();
    assert_eq!(slow.await.unwrap(), (200, "a".into()));
    let status = tokio::task::spawn_blocking(move || {
        let s = proxy.child.wait().unwrap();
        (s, proxy)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
