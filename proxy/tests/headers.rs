//! The header rules of `policy`, as an app behind the real binary sees them, on both HTTP
//! paths (a plain GET takes the fast path, a chunked POST the general hyper path): Host
//! required once (400 otherwise, never reaching a target), headers named in `Connection`
//! removed both ways, forwarding headers from untrusted senders dropped and the client address
//! taken from the rightmost untrusted hop, transfer codings other than chunked refused (501
//! for a request, 502 for a response), and only websocket upgrades passed on.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

/// The same request on both paths: `head_lines` after the request line and before the end of
/// the head; the fast path gets it as a GET, the general path as a chunked POST.
fn both_paths(path: &str, head_lines: &str) -> [Vec<u8>; 2] {
    [
        format!("GET {path} HTTP/1.1\r\n{head_lines}Connection: close\r\n\r\n").into_bytes(),
        format!(
            "POST {path} HTTP/1.1\r\n{head_lines}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        )
        .into_bytes(),
    ]
}

/// What the echo backend saw, lower case (it prints `name: value` lines).
async fn echoed(proxy: &ProxyProc, request: &[u8]) -> String {
    let answer = raw(proxy.http, request, WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    answer.to_ascii_lowercase()
}

/// A target on raw sockets answering by path: `/listed` with a header named in its
/// `Connection`, `/gzip` with `Transfer-Encoding: gzip, chunked`, anything else `ok`.
/// Counts the requests it got.
struct RawTarget {
    addr: SocketAddr,
    got: Arc<AtomicU64>,
}

impl RawTarget {
    async fn start() -> RawTarget {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(AtomicU64::new(0));
        let count = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        if !head.contains(" /up ") {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        buf.drain(..end + 4);
                        // A chunked body (the tests send small ones) is skipped whole.
                        if head
                            .to_ascii_lowercase()
                            .contains("transfer-encoding: chunked")
                        {
                            loop {
                                if let Some(i) = buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                                    buf.drain(..i + 5);
                                    break;
                                }
                                match s.read(&mut chunk).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                }
                            }
                        }
                        let answer: &[u8] = if head.contains(" /listed ") {
                            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok"
                        } else if head.contains(" /gzip ") {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        };
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RawTarget { addr, got }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_or_none_in_http11_are_400_and_never_reach_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &app.target(), &[]);
    let before = app.served();
    for request in [
        &b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\nContent-Length: 2\r\n\r\nhi",
        b"GET http://a.test/ HTTP/1.1\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw(proxy.http, request, WAIT).await;
        assert_eq!(
            status_of(&answer),
            400,
            "{}\n=> {answer}",
            String::from_utf8_lossy(request)
        );
    }
    assert_eq!(app.served(), before, "a refused request reached the target");
    // HTTP/1.0 has no Host requirement.
    let answer = raw(proxy.http, b"GET / HTTP/1.0\r\n\r\n", WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_named_in_connection_are_removed_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let target = RawTarget::start().await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &app.target(), &["--host", "app.test"]);
    proxy.deploy("raw", &target.addr.to_string(), &["--host", "raw.test"]);
    let lines = "Host: app.test\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s3\r\nKeep-Alive: timeout=5\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Kept: yes\r\n";
    for request in both_paths("/echo", lines) {
        let seen = echoed(&proxy, &request).await;
        assert!(seen.contains("x-kept: yes\n"), "{seen}");
        for gone in ["x-secret", "keep-alive", "http2-settings"] {
            assert!(!seen.contains(gone), "{gone} reached the app: {seen}");
        }
    }
    // The target's response, with a header its Connection names.
    for request in both_paths("/listed", "Host: raw.test\r\n") {
        let answer = raw(proxy.http, &request, WAIT).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        let head = answer.to_ascii_lowercase();
        for gone in ["x-internal", "keep-alive"] {
            assert!(!head.contains(gone), "{gone} reached the client: {answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_of_untrusted_senders_are_dropped_or_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    // Trusts a balancer's network, not the test's loopback address.
    let proxy = ProxyProc::start(dir.path(), &["--trusted-proxies", "10.0.0.0/8"]);
    proxy.deploy("app", &app.target(), &[]);
    let forged = "Host: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.7\r\nX-Real-IP: 6.6.6.8\r\nForwarded: for=6.6.6.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 443\r\nx_forwarded_host: evil2.test\r\n";
    for request in both_paths("/echo", forged) {
        let seen = echoed(&proxy, &request).await;
        assert!(!seen.contains("6.6.6."), "a forged address passed: {seen}");
        assert!(!seen.contains("evil"), "a forged host passed: {seen}");
        assert!(!seen.contains("forwarded:"), "{seen}");
        assert!(!seen.contains("x-forwarded-port"), "{seen}");
        assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{seen}");
        assert!(seen.contains("x-real-ip: 127.0.0.1\n"), "{seen}");
        assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
        assert!(seen.contains("x-forwarded-host: shop.test\n"), "{seen}");
    }
    // Without a Host (HTTP/1.0), a client's X-Forwarded-Host still does not pass.
    let seen = echoed(
        &proxy,
        b"GET /echo HTTP/1.0\r\nX-Forwarded-Host: evil.test\r\n\r\n",
    )
    .await;
    assert!(!seen.contains("evil"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_senders_are_a_list_and_the_client_is_the_rightmost_untrusted_hop() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &["--trusted-proxies", "10.0.0.0/8,127.0.0.1"]);
    proxy.deploy("app", &app.target(), &[]);
    let via_cdn = "Host: shop.test\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.1.2.3\r\nX-Forwarded-Proto: https\r\nForwarded: for=203.0.113.9\r\nX_Forwarded_For: 6.6.6.7\r\n";
    for request in both_paths("/echo", via_cdn) {
        let seen = echoed(&proxy, &request).await;
        assert!(
            seen.contains("x-forwarded-for: 6.6.6.6, 203.0.113.9, 10.1.2.3, 127.0.0.1\n"),
            "{seen}"
        );
        assert!(seen.contains("x-real-ip: 203.0.113.9\n"), "{seen}");
        assert!(seen.contains("x-forwarded-proto: https\n"), "{seen}");
        assert!(seen.contains("forwarded: for=203.0.113.9\n"), "{seen}");
        assert!(!seen.contains("6.6.6.7"), "underscores never pass: {seen}");
    }
    // Bytes that are not text in X-Forwarded-For: the chain is dropped on both paths.
    let bad = both_paths("/echo", "Host: shop.test\r\nX-Forwarded-For: 1.2.3.4~\r\n");
    for mut request in bad {
        for b in request.iter_mut().filter(|b| **b == b'~') {
            *b = 0xff;
        }
        let seen = echoed(&proxy, &request).await;
        assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{seen}");
        assert!(seen.contains("x-real-ip: 127.0.0.1\n"), "{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_codings_other_than_chunked_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let target = RawTarget::start().await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &app.target(), &["--host", "app.test"]);
    proxy.deploy("raw", &target.addr.to_string(), &["--host", "raw.test"]);
    let before = app.served();
    let answer = raw(
        proxy.http,
        b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&answer), 501, "{answer}");
    assert_eq!(app.served(), before, "the request reached the target");
    // A response whose body has a coding the proxy would lose: refused, on both paths.
    for request in both_paths("/gzip", "Host: raw.test\r\n") {
        let answer = raw(proxy.http, &request, WAIT).await;
        assert_eq!(status_of(&answer), 502, "{answer}");
        assert!(!answer.contains("hello"), "{answer}");
    }
    assert_eq!(target.got.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_websocket_upgrades_pass_and_h2c_is_served_as_http11() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &app.target(), &[]);
    let seen = echoed(
        &proxy,
        b"GET /echo HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    )
    .await;
    assert!(seen.starts_with("http/1.1 200"), "{seen}");
    for gone in ["upgrade", "http2-settings"] {
        assert!(!seen.contains(gone), "{gone} reached the app: {seen}");
    }
    // Another protocol is not passed on either; a websocket upgrade is.
    let seen = echoed(
        &proxy,
        b"GET /echo HTTP/1.1\r\nHost: app.test\r\nConnection: upgrade, close\r\nUpgrade: echo\r\n\r\n",
    )
    .await;
    assert!(!seen.contains("upgrade"), "{seen}");
    let answer = raw(
        proxy.http,
        b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert_ne!(status_of(&answer), 101, "{answer}");
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 1024];
    let n = s.read(&mut head).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&head[..n])), 101);
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // Configured: other protocols pass too.
    let open = ProxyProc::start(
        &dir.path().join("o"),
        &["--upgrade-protocols", "websocket,echo"],
    );
    open.deploy("app", &app.target(), &[]);
    let answer = raw(
        open.http,
        b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(status_of(&answer), 101, "{answer}");
}
