//! A service's traffic controls through the real binary, on real sockets: the rate limit per
//! client (by address through the trusted proxies, or by a header; 429 with Retry-After,
//! counted in the metrics, on both HTTP paths), the service's own error pages (502 when its
//! target is gone, the maintenance page with its message), several path prefixes, and the
//! redirect to the canonical host.

mod support;

use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

/// One request on its own connection: the whole answer as text.
async fn ask(proxy: &ProxyProc, host: &str, path: &str, headers: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n");
    raw(proxy.http, req.as_bytes(), WAIT).await
}

/// `n` requests one after another on one keep-alive connection: their answers' heads and
/// bodies as text, each.
async fn on_one_connection(proxy: &ProxyProc, headers: &str, n: usize) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..n {
        let req = format!("GET / HTTP/1.1\r\nHost: app.test\r\n{headers}\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        // Every answer here has a Content-Length: read the head, then that many bytes.
        loop {
            let mut buf = [0u8; 4096];
            let k = tokio::time::timeout(WAIT, s.read(&mut buf))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(k > 0, "the proxy closed the keep-alive connection");
            got.extend_from_slice(&buf[..k]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = header(&text, "content-length").unwrap().parse().unwrap();
                if got.len() >= end + 4 + len {
                    break;
                }
            }
        }
        answers.push(String::from_utf8_lossy(&got).into_owned());
    }
    answers
}

/// A header's value in a raw answer (first one, any case).
fn header(answer: &str, name: &str) -> Option<String> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

async fn metric(proxy: &ProxyProc, line_start: &str) -> Option<u64> {
    let (_, text) = get(proxy.metrics.unwrap(), "metrics", "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_the_limit_gets_429s_and_another_client_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let flags = ["--trusted-proxies", "127.0.0.1", "--metrics", "127.0.0.1:0"];
    let proxy = ProxyProc::start(dir.path(), &flags);
    // 5 at once, then one every 12 s.
    let limit = ["--host", "app.test", "--rate-limit", "5/60s"];
    proxy.deploy("app", &a.target(), &limit);
    let first = "X-Forwarded-For: 203.0.113.7\r\n";
    // A keep-alive connection: the fast path carries the first five, the sixth is answered
    // 429 (by the general path, where the connection then stays).
    let answers = on_one_connection(&proxy, first, 7).await;
    let statuses: Vec<u16> = answers.iter().map(|a| status_of(a)).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429], "{answers:?}");
    let retry: u64 = header(&answers[5], "retry-after").unwrap().parse().unwrap();
    assert!((11..=12).contains(&retry), "Retry-After {retry}");
    assert!(answers[5].contains("too many requests"), "{}", answers[5]);
    // Other connections of the same client are over the limit too.
    let again = ask(&proxy, "app.test", "/", first).await;
    assert_eq!(status_of(&again), 429, "{again}");
    // Another client behind the same trusted balancer is not.
    for _ in 0..5 {
        let other = ask(&proxy, "app.test", "/", "X-Forwarded-For: 203.0.113.8\r\n").await;
        assert_eq!(status_of(&other), 200, "{other}");
    }
    // The chain's rightmost untrusted hop is the client: a forged hop before it changes nothing.
    let forged = ask(
        &proxy,
        "app.test",
        "/",
        "X-Forwarded-For: 1.2.3.4, 203.0.113.7\r\n",
    )
    .await;
    assert_eq!(status_of(&forged), 429, "{forged}");
    assert_eq!(a.served(), 10, "refused requests never reach the app");
    let counted = metric(&proxy, "dhow_proxy_rate_limited_total{service=\"app\"}").await;
    assert_eq!(counted, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_sender_cannot_dodge_the_limit_with_forwarded_headers() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    let limit = ["--host", "app.test", "--rate-limit", "2/60s"];
    proxy.deploy("app", &a.target(), &limit);
    for (i, xff) in ["1.1.1.1", "2.2.2.2", "3.3.3.3"].iter().enumerate() {
        let answer = ask(
            &proxy,
            "app.test",
            "/",
            &format!("X-Forwarded-For: {xff}\r\n"),
        )
        .await;
        let want = if i < 2 { 200 } else { 429 };
        assert_eq!(status_of(&answer), want, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_by_header_counts_each_value_apart() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    let limit = [
        "--host",
        "app.test",
        "--rate-limit",
        "1/1m",
        "--rate-burst",
        "2",
        "--rate-by",
        "header:X-Api-Key",
    ];
    proxy.deploy("app", &a.target(), &limit);
    let key = |k: &str| format!("x-api-key: {k}\r\n");
    let statuses: Vec<u16> = on_one_connection(&proxy, &key("alpha"), 3)
        .await
        .iter()
        .map(|a| status_of(a))
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let beta = ask(&proxy, "app.test", "/", &key("beta")).await;
    assert_eq!(status_of(&beta), 200, "{beta}");
    let retry = header(
        &ask(&proxy, "app.test", "/", &key("alpha")).await,
        "retry-after",
    );
    assert_eq!(retry.as_deref(), Some("60"));
    // A bad setting is refused by the proxy, with the reason.
    let bad = proxy
        .deploy_async("bad", &a.target(), &["--rate-limit", "0/1s"])
        .await;
    assert!(
        !bad.0 && bad.1.contains("requests must be at least 1"),
        "{}",
        bad.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_own_pages_replace_the_proxys() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    std::fs::write(pages.join("502.html"), "<h1>Our app is down</h1>").unwrap();
    std::fs::write(
        pages.join("maintenance.html"),
        "<p>Back at {{ .Message }}</p>",
    )
    .unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    let flags = [
        "--host",
        "app.test",
        "--error-pages",
        pages.to_str().unwrap(),
    ];
    proxy.deploy("app", &a.target(), &flags);
    assert_eq!(status_of(&ask(&proxy, "app.test", "/", "").await), 200);
    a.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fast path (a plain request) and the general path (an HTTP/1.0 one, a POST body).
    for req in [
        "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n".to_string(),
        "GET / HTTP/1.0\r\nHost: app.test\r\n\r\n".to_string(),
        "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n".to_string(),
    ] {
        let answer = raw(proxy.http, req.as_bytes(), WAIT).await;
        assert_eq!(status_of(&answer), 502, "{answer}");
        assert!(answer.ends_with("<h1>Our app is down</h1>"), "{answer}");
        let ct = header(&answer, "content-type").unwrap();
        assert!(ct.starts_with("text/html"), "{answer}");
    }
    let (ok, out) = proxy.ctl(&["stop", "app", "--message", "5 <pm>"]);
    assert!(ok, "{out}");
    let answer = ask(&proxy, "app.test", "/", "").await;
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(answer.ends_with("<p>Back at 5 &lt;pm&gt;</p>"), "{answer}");
    // A service without pages keeps the proxy's plain answers.
    let b = Backend::start("b").await;
    proxy.deploy("other", &b.target(), &["--host", "other.test"]);
    b.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let plain = ask(&proxy, "other.test", "/", "").await;
    assert_eq!(status_of(&plain), 502, "{plain}");
    assert!(header(&plain, "content-type")
        .unwrap()
        .starts_with("text/plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_prefixes_route_to_one_service_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (api, site) = (Backend::start("api").await, Backend::start("site").await);
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("site", &site.target(), &["--host", "app.test"]);
    let prefixes = ["--host", "app.test", "--path-prefixes", "/api,/admin"];
    proxy.deploy("api", &api.target(), &prefixes);
    let route = |path: &'static str| async move { get(proxy.http, "app.test", path).await };
    for (path, who) in [
        ("/api/x", "api"),
        ("/admin", "api"),
        ("/admin/users?id=1", "api"),
        ("/", "site"),
        ("/administrator", "site"),
    ] {
        let (status, body) = route(path).await;
        assert_eq!((status, body.as_str()), (200, who), "{path}");
    }
    // One of them taken by another service is a conflict.
    let (ok, out) = proxy
        .deploy_async(
            "x",
            &site.target(),
            &["--host", "app.test", "--path-prefix", "/admin"],
        )
        .await;
    assert!(!ok && out.contains("already routes"), "{out}");
    proxy.kill();
    let proxy = ProxyProc::start(dir.path(), &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = get(proxy.http, "app.test", "/admin/x").await;
    assert_eq!((status, body.as_str()), (200, "api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_hosts_are_redirected_to_the_canonical_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    let flags = [
        "--host",
        "app.test",
        "--host",
        "www.app.test",
        "--canonical-host",
        "app.test",
    ];
    proxy.deploy("app", &a.target(), &flags);
    let answer = ask(&proxy, "www.app.test:8080", "/a/b?q=1&r=2", "").await;
    assert_eq!(status_of(&answer), 301, "{answer}");
    assert_eq!(
        header(&answer, "location").as_deref(),
        Some("http://app.test:8080/a/b?q=1&r=2")
    );
    assert_eq!(a.served(), 0);
    let (status, body) = get(proxy.http, "APP.test", "/").await;
    assert_eq!((status, body.as_str()), (200, "a"));
    // A canonical host the service does not route is refused at deploy.
    let (ok, out) = proxy
        .deploy_async(
            "b",
            &a.target(),
            &["--host", "b.test", "--canonical-host", "c.test"],
        )
        .await;
    assert!(
        !ok && out.contains("not one of the service's hosts"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_service_that_stays_paused_answers_with_its_503_page() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    std::fs::write(pages.join("503.html"), "<h1>busy</h1>").unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &["--pause-timeout", "200ms"]);
    let flags = [
        "--host",
        "app.test",
        "--error-pages",
        pages.to_str().unwrap(),
    ];
    proxy.deploy("app", &a.target(), &flags);
    let (ok, out) = proxy.ctl(&["pause", "app"]);
    assert!(ok, "{out}");
    let answer = ask(&proxy, "app.test", "/", "").await;
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(answer.ends_with("<h1>busy</h1>"), "{answer}");
    // Without a maintenance page, the 503 page is the maintenance page too.
    let (ok, out) = proxy.ctl(&["stop", "app"]);
    assert!(ok, "{out}");
    let answer = ask(&proxy, "app.test", "/", "").await;
    assert!(answer.ends_with("<h1>busy</h1>"), "{answer}");
    assert_eq!(a.served(), 0);
}
