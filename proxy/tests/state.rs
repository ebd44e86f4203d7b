//! The proxy's state across restarts, maintenance modes, metrics and forwarded headers, with
//! the real binary, real backends and real HTTP clients.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_come_back_after_a_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("shop", &a.target(), &["--host", "shop.test"]);
    proxy.deploy(
        "blog",
        &b.target(),
        &[
            "--host",
            "blog.test",
            "--path-prefix",
            "/blog",
            "--strip-prefix",
        ],
    );
    proxy.kill();

    let proxy = ProxyProc::start(dir.path(), &[]);
    assert!(
        proxy.startup.contains("\"services\":2"),
        "{}",
        proxy.startup
    );
    assert_eq!(get(proxy.http, "shop.test", "/").await, (200, "a".into()));
    let (status, echo) = get(proxy.http, "blog.test", "/blog/echo").await;
    assert_eq!(status, 200);
    assert!(
        echo.contains("path: /echo"),
        "prefix stripped after restart: {echo}"
    );
    assert_eq!(get(proxy.http, "other.test", "/").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_target_gets_traffic_only_once_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);
    proxy.kill();
    a.healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    let proxy = ProxyProc::start(dir.path(), &[]);
    let addr = proxy.http;
    let waiting = tokio::spawn(async move { get(addr, "x.test", "/").await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "a request went to an unchecked target"
    );
    assert_eq!(a.served(), 0);
    a.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(waiting.await.unwrap(), (200, "a".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_half_written_state_file_is_reported_and_set_aside() {
    for (what, content) in [
        ("corrupt", &b"\x00\x01 not json at all"[..]),
        (
            "half-written",
            &b"{\"services\": [{\"name\": \"app\", \"hosts\": [], \"targ"[..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), content).unwrap();
        let a = Backend::start("a").await;
        let proxy = ProxyProc::start(dir.path(), &[]);
        assert!(
            proxy.startup.contains("is corrupt") && proxy.startup.contains("moved it to"),
            "{what}: the problem is reported: {}",
            proxy.startup
        );
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(
            aside.len(),
            1,
            "{what}: the bad file is kept aside for a look"
        );
        // It serves, and a deploy writes a good state again.
        assert_eq!(get(proxy.http, "x.test", "/").await.0, 404);
        proxy.deploy("app", &a.target(), &[]);
        assert_eq!(get(proxy.http, "x.test", "/").await, (200, "a".into()));
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        assert_eq!(saved["services"][0]["target"], a.target());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_requests_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);
    let (ok, out) = proxy.ctl(&["pause", "app"]);
    assert!(ok && out.contains("paused"), "{out}");
    let addr = proxy.http;
    let held: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { get(addr, "x.test", "/").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        held.iter().all(|h| !h.is_finished()),
        "paused requests were answered"
    );
    assert_eq!(a.served(), 0);
    let (ok, out) = proxy.ctl_async(&["resume", "app"]).await;
    assert!(ok, "{out}");
    for h in held {
        assert_eq!(h.await.unwrap(), (200, "a".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_request_times_out_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &["--pause-timeout", "500ms"]);
    proxy.deploy("app", &a.target(), &[]);
    assert!(proxy.ctl(&["pause", "app"]).0);
    let (status, body) = get(proxy.http, "x.test", "/").await;
    assert_eq!(status, 503);
    assert!(body.contains("paused"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_serves_maintenance_while_health_passes_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);
    let (ok, out) = proxy.ctl(&["stop", "app", "--message", "Back at <5pm>"]);
    assert!(ok && out.contains("stopped"), "{out}");
    let check = |proxy: &ProxyProc| {
        let addr = proxy.http;
        async move {
            let (status, page) = get(addr, "x.test", "/orders").await;
            assert_eq!(status, 503);
            assert!(
                page.contains("Back at &lt;5pm&gt;"),
                "message, escaped: {page}"
            );
            assert_eq!(
                get(addr, "x.test", "/up").await.0,
                200,
                "health keeps passing"
            );
        }
    };
    check(&proxy).await;
    assert_eq!(a.served(), 0);
    proxy.kill();
    let proxy = ProxyProc::start(dir.path(), &[]);
    check(&proxy).await;
    let (_, list) = proxy.ctl(&["list"]);
    assert!(list.contains("\"mode\":\"stopped\""), "{list}");
    assert!(proxy.ctl(&["resume", "app"]).0);
    assert_eq!(
        get(proxy.http, "x.test", "/orders").await,
        (200, "a".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commands_on_unknown_services_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = ProxyProc::start(dir.path(), &[]);
    for cmd in [["pause", "nope"], ["resume", "nope"], ["remove", "nope"]] {
        let (ok, out) = proxy.ctl(&cmd);
        assert!(!ok && out.contains("no service nope"), "{cmd:?}: {out}");
    }
    let (ok, out) = ProxyProc::ctl(
        &proxy,
        &[
            "deploy",
            "x",
            "--target",
            "127.0.0.1:1",
            "--deploy-timeout",
            "300ms",
        ],
    );
    assert!(!ok && out.contains("did not become healthy"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_service_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &["--metrics", "127.0.0.1:0"]);
    proxy.deploy("app", &a.target(), &["--host", "app.test"]);
    for _ in 0..5 {
        assert_eq!(get(proxy.http, "app.test", "/").await.0, 200);
    }
    assert_eq!(get(proxy.http, "other.test", "/").await.0, 404);
    let metrics = proxy.metrics.expect("metrics address logged");
    let (status, text) = get(metrics, "metrics", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("dhow_proxy_requests_total{service=\"app\",code=\"2xx\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("dhow_proxy_requests_total{service=\"\",code=\"4xx\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dhow_proxy_request_duration_seconds_count{service=\"app\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("dhow_proxy_deploys_total{result=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dhow_proxy_requests_in_flight{service=\"app\"} 0"),
        "{text}"
    );
    // Metrics are not on the traffic port.
    assert_eq!(get(proxy.http, "app.test", "/metrics").await.1, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_set_and_forged_ones_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &[]);
    let answer = raw(
        proxy.http,
        b"GET /echo HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Request-Id: req-42\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.contains("x-forwarded-for: 127.0.0.1\n"), "{answer}");
    assert!(answer.contains("x-forwarded-proto: http\n"), "{answer}");
    assert!(answer.contains("x-forwarded-host: shop.test\n"), "{answer}");
    assert!(answer.contains("x-request-id: req-42\n"), "kept: {answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-request-id: req-42\r\n"),
        "echoed back to the client: {answer}"
    );

    let trusted = ProxyProc::start(&dir.path().join("t"), &["--trust-forwarded"]);
    trusted.deploy("app", &a.target(), &[]);
    let answer = raw(
        trusted.http,
        b"GET /echo HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        answer.contains("x-forwarded-for: 10.0.0.1, 127.0.0.1\n"),
        "{answer}"
    );
    assert!(answer.contains("x-forwarded-proto: https\n"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_that_cannot_be_saved_is_not_made() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &v1.target(), &["--host", "app.test"]);
    // The state file's temporary file cannot be created (a directory is in its place; this
    // fails for root too, unlike a read-only folder).
    std::fs::create_dir(dir.path().join("state.json.tmp")).unwrap();
    let (ok, out) = proxy
        .deploy_async("app", &v2.target(), &["--host", "app.test"])
        .await;
    assert!(
        !ok,
        "a deploy whose state could not be saved succeeded: {out}"
    );
    assert!(out.contains("500"), "{out}");
    assert!(out.contains("could not save the state file"), "{out}");
    assert!(out.contains("previous target keeps serving"), "{out}");
    // The CLI stops v2 after such an answer: the proxy must still route to v1.
    assert_eq!(get(proxy.http, "app.test", "/").await, (200, "v1".into()));
    let (_, list) = proxy.ctl(&["list"]);
    assert!(
        list.contains(&v1.target()) && !list.contains(&v2.target()),
        "{list}"
    );
    // The same for a removal and a mode change: refused, nothing changed.
    let (ok, out) = proxy.ctl(&["remove", "app"]);
    assert!(!ok && out.contains("could not save"), "{out}");
    let (ok, out) = proxy.ctl(&["stop", "app"]);
    assert!(!ok && out.contains("could not save"), "{out}");
    assert_eq!(get(proxy.http, "app.test", "/").await, (200, "v1".into()));
    // Once the state can be written again, the switch goes through.
    std::fs::remove_dir(dir.path().join("state.json.tmp")).unwrap();
    proxy.deploy("app", &v2.target(), &["--host", "app.test"]);
    assert_eq!(get(proxy.http, "app.test", "/").await, (200, "v2".into()));
}
