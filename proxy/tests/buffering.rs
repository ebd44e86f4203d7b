//! A service's own response timeout, body limits and buffering (from its deploy), with the
//! real binary on raw sockets: a slow target gets 504 within the service's timeout on both
//! HTTP paths, a body over the service's limit gets 413, a buffered request reaches a target
//! that only takes whole bodies, a buffered response over its limit gets 502, and all of it
//! survives a restart.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

/// A target that only takes whole bodies (411 for a chunked one), answers `/big?n=N` with N
/// bytes in chunks (no Content-Length), and `/slow` after 2 s.
async fn strict_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(strict_answer);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

type Chunks = http_body_util::StreamBody<
    futures::stream::Iter<std::vec::IntoIter<Result<hyper::body::Frame<Bytes>, hyper::Error>>>,
>;

async fn strict_answer(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<http_body_util::Either<Full<Bytes>, Chunks>>, hyper::Error> {
    let text = |status: u16, t: String| {
        Response::builder()
            .status(status)
            .body(http_body_util::Either::Left(Full::new(Bytes::from(t))))
            .unwrap()
    };
    let path = req.uri().path().to_string();
    if path == "/big" {
        let n: usize = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("n="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let frames: Vec<_> = (0..n.div_ceil(1000))
            .map(|i| {
                let len = 1000.min(n - i * 1000);
                Ok(hyper::body::Frame::data(Bytes::from(vec![b'x'; len])))
            })
            .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(frames));
        return Ok(Response::new(http_body_util::Either::Right(body)));
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let whole = req.headers().contains_key("content-length");
    let chunked = req.headers().contains_key("transfer-encoding");
    let body = req.into_body().collect().await?.to_bytes();
    if chunked || (!whole && !body.is_empty()) {
        return Ok(text(411, "whole bodies only".into()));
    }
    Ok(text(200, format!("whole {}", body.len())))
}

/// A chunked POST of `n` bytes in one write.
fn chunked_post(path: &str, n: usize) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for part in vec![b'y'; n].chunks(700) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

fn post(path: &str, n: usize) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: app.test\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'z', n));
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_response_timeout_applies_on_both_paths_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let target = strict_backend().await.to_string();
    let mut proxy = ProxyProc::start(dir.path(), &[]);
    let limits = ["--host", "app.test", "--response-timeout", "300ms"];
    proxy.deploy("app", &target, &limits);
    for _ in 0..2 {
        // The fast path (a plain GET) and the general one (a chunked body).
        let started = Instant::now();
        let get = b"GET /slow HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n";
        let answer = raw(proxy.http, get, WAIT).await;
        assert_eq!(status_of(&answer), 504, "{answer}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let answer = raw(proxy.http, &chunked_post("/slow", 10), WAIT).await;
        assert_eq!(status_of(&answer), 504, "{answer}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "took {:?}",
            started.elapsed()
        );
        proxy.kill();
        proxy = ProxyProc::start(dir.path(), &[]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Another service on the same proxy keeps the proxy's timeout (60 s).
    proxy.deploy("other", &target, &["--host", "other.test"]);
    let get = b"GET /slow HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&raw(proxy.http, get, WAIT).await), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_services_limit_gets_413() {
    let dir = tempfile::tempdir().unwrap();
    let target = strict_backend().await.to_string();
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy(
        "app",
        &target,
        &["--host", "app.test", "--max-request-body", "1000"],
    );
    // Declared (small enough for the fast path, and large), then chunked (streamed).
    for req in [post("/", 1001), post("/", 70_000)] {
        let answer = raw(proxy.http, &req, WAIT).await;
        assert_eq!(status_of(&answer), 413, "{answer}");
        assert!(answer.contains("over the limit of 1000 bytes"), "{answer}");
    }
    let answer = raw(proxy.http, &post("/", 1000), WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let answer = raw(proxy.http, &chunked_post("/", 5000), WAIT).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_request_reaches_a_target_that_only_takes_whole_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let target = strict_backend().await.to_string();
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("plain", &target, &["--host", "plain.test"]);
    let plain = String::from_utf8(chunked_post("/", 5000))
        .unwrap()
        .replace("app.test", "plain.test");
    let answer = raw(proxy.http, plain.as_bytes(), WAIT).await;
    assert_eq!(status_of(&answer), 411, "streamed as it came: {answer}");
    proxy.deploy(
        "app",
        &target,
        &[
            "--host",
            "app.test",
            "--buffer-requests",
            "--buffer-memory",
            "100000",
        ],
    );
    let answer = raw(proxy.http, &chunked_post("/", 5000), WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.ends_with("whole 5000"), "{answer}");
    // Over the buffer: 413, nothing spilled anywhere.
    let answer = raw(proxy.http, &chunked_post("/", 100_001), WAIT).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(answer.contains("buffer of 100000 bytes"), "{answer}");
    let answer = raw(proxy.http, &post("/", 100_001), WAIT).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_response_over_its_limit_gets_502() {
    let dir = tempfile::tempdir().unwrap();
    let target = strict_backend().await.to_string();
    let proxy = ProxyProc::start(dir.path(), &[]);
    let flags = [
        "--host",
        "app.test",
        "--buffer-responses",
        "--max-response-body",
        "5000",
    ];
    proxy.deploy("app", &target, &flags);
    let get = |n: usize| {
        format!("GET /big?n={n} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
    };
    let answer = raw(proxy.http, get(4000).as_bytes(), WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-length: 4000"), "buffered: {answer}");
    assert!(!lower.contains("transfer-encoding"), "{answer}");
    let answer = raw(proxy.http, get(5001).as_bytes(), WAIT).await;
    assert_eq!(status_of(&answer), 502, "{answer}");
    assert!(answer.contains("over the limit of 5000 bytes"), "{answer}");
}
