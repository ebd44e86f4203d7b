//! Canary rollouts with the real dhow-proxy binary and real backends, over its control
//! socket: 1,000 clients with their own cookies split 20 % ± 4 % and each stays on one side
//! for 10 requests; a larger share keeps the canary's clients; the tester header and an
//! allowlisted cookie choose; any deploy but the finishing one is refused; the canary
//! survives a restart; abort sends everyone back; finish is a deploy to the canary's
//! targets; shares, aborts and finishes under 64 keep-alive connections fail no request.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// A client with its own connection and cookie jar (one cookie: the canary's).
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    cookie: Option<String>,
}

impl Client {
    async fn new(proxy: &ProxyProc) -> Client {
        let io = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client {
            sender,
            cookie: None,
        }
    }

    /// GET / with the jar's cookie (and `extra` headers): (status, body); a Set-Cookie fills
    /// the jar.
    async fn get(&mut self, extra: &[(&str, &str)]) -> (u16, String) {
        let mut req = Request::get("/").header("host", "app.test");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("theme=dark; {c}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.sender.ready().await.unwrap();
        let resp = self
            .sender
            .send_request(req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        if let Some(sc) = resp.headers().get("set-cookie") {
            let pair = sc.to_str().unwrap().split(';').next().unwrap().to_string();
            assert!(pair.starts_with("dhow_canary="), "{pair}");
            assert!(self.cookie.is_none(), "a client with a cookie got another");
            self.cookie = Some(pair);
        }
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// 1,000 new clients, 10 requests each: how many were on `canary`; panics when one changed
/// sides or got an error.
async fn share_of(proxy: &ProxyProc, canary: &str) -> (usize, Vec<Client>) {
    let mut on = 0;
    let mut clients = Vec::new();
    for chunk in 0..20 {
        let batch = futures::future::join_all((0..50).map(|_| async {
            let mut c = Client::new(proxy).await;
            let mut seen = Vec::new();
            for _ in 0..10 {
                let (status, body) = c.get(&[]).await;
                assert_eq!(status, 200, "{body}");
                seen.push(body);
            }
            assert!(
                seen.iter().all(|b| *b == seen[0]),
                "a client changed sides: {seen:?}"
            );
            (seen[0] == canary, c)
        }))
        .await;
        for (to_canary, c) in batch {
            on += usize::from(to_canary);
            clients.push(c);
        }
        let _ = chunk;
    }
    (on, clients)
}

fn canary_request(targets: &[String], percent: f64) -> serde_json::Value {
    serde_json::json!({
        "targets": targets, "percent": percent, "version": "v2", "stable_version": "v1",
        "allow": ["tester-1"], "health": {"path": "/up", "interval_ms": 50, "timeout_ms": 1000},
        "deploy_timeout_ms": 5000,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_takes_its_share_of_clients_sticky_and_comes_and_goes_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Backend::start("old").await, Backend::start("new").await);
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &old.target(), &["--host", "app.test"]);
    let canary = "/v1/services/app/canary";

    // Its own target as a canary, or a share past 100 %, is refused.
    let (status, answer) = control_json(
        &proxy,
        "POST",
        canary,
        canary_request(&[old.target()], 20.0),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = control_json(
        &proxy,
        "POST",
        canary,
        canary_request(&[new.target()], 120.0),
    )
    .await;
    assert_eq!(status, 400);

    let (status, answer) = control_json(
        &proxy,
        "POST",
        canary,
        canary_request(&[new.target()], 20.0),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["canary"]["percent"], 20.0);
    let (on, clients) = share_of(&proxy, "new").await;
    assert!(
        (160..=240).contains(&on),
        "{on} of 1000 clients on the canary at 20 %"
    );

    // The tester header and the allowlisted cookie choose; other deploys are refused.
    let mut tester = Client::new(&proxy).await;
    assert_eq!(tester.get(&[("x-dhow-canary", "canary")]).await.1, "new");
    assert_eq!(
        tester.get(&[("cookie", "dhow_canary=tester-1")]).await.1,
        "new"
    );
    let other = Backend::start("other").await;
    let (ok, out) = proxy
        .deploy_async("app", &other.target(), &["--host", "app.test"])
        .await;
    assert!(!ok && out.contains("rollout finish"), "{out}");

    // Under load: 50 %, a restart, stats, abort, a new canary and its finish lose nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let loaded = load(proxy.http, "app.test", 64, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let share = "/v1/services/app/canary/share";
    let (status, _) = control_json(&proxy, "POST", share, serde_json::json!({"percent": 50})).await;
    assert_eq!(status, 200);
    let mut kept = 0;
    for mut c in clients {
        let before = c.cookie.clone();
        let body = c.get(&[]).await.1;
        assert_eq!(c.cookie, before);
        kept += usize::from(body == "new");
    }
    assert!(
        kept >= on,
        "{kept} of the {on} canary clients still on it at 50 %"
    );
    assert!((420..=580).contains(&kept), "{kept} of 1000 at 50 %");
    let (status, stats) = control_json(
        &proxy,
        "GET",
        "/v1/services/app/stats",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stats["versions"][1]["version"], "v2", "{stats}");
    assert!(
        stats["versions"][1]["requests"].as_u64().unwrap() > 1000,
        "{stats}"
    );
    assert_eq!(stats["versions"][1]["errors"], 0, "{stats}");
    stop.store(true, Ordering::SeqCst);
    let report = loaded.await.unwrap();
    assert_eq!(report.non_2xx.len() + report.errors.len(), 0, "{report:?}");

    proxy.kill();
    let proxy = ProxyProc::start(dir.path(), &[]);
    let list = proxy.ctl(&["list"]).1;
    assert!(
        list.contains("\"percent\":50.0"),
        "the canary survives a restart: {list}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut c = Client::new(&proxy).await;
    assert_eq!(c.get(&[("x-dhow-canary", "1")]).await.1, "new");

    let stop = Arc::new(AtomicBool::new(false));
    let loaded = load(proxy.http, "app.test", 64, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = control_json(
        &proxy,
        "POST",
        "/v1/services/app/canary/abort",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        (status, &answer["aborted"]),
        (200, &serde_json::json!(true)),
        "{answer}"
    );
    let mut c = Client::new(&proxy).await;
    assert_eq!(
        c.get(&[("x-dhow-canary", "1")]).await.1,
        "old",
        "after abort, all stable"
    );
    let (status, _) = control_json(
        &proxy,
        "POST",
        canary,
        canary_request(&[new.target()], 10.0),
    )
    .await;
    assert_eq!(status, 200);
    proxy.deploy("app", &new.target(), &["--host", "app.test"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let report = loaded.await.unwrap();
    assert_eq!(report.non_2xx.len() + report.errors.len(), 0, "{report:?}");
    let list = proxy.ctl(&["list"]).1;
    assert!(!list.contains("canary"), "finished: no canary left: {list}");
    let mut c = Client::new(&proxy).await;
    assert_eq!(
        c.get(&[("x-dhow-canary", "stable")]).await.1,
        "new",
        "finished"
    );
}
