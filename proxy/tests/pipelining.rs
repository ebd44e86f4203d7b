//! Many pipelined requests in one write, on both HTTP paths, answered in order with flat
//! memory; and the cap on concurrent client connections, with its log line once per burst.

mod support;

use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADS: usize = 20_000;

/// A field of /proc/PID/status, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Write `first` and HEADS pipelined GETs of /echo?i=N in one write, read the answers
/// meanwhile, and check that every one came, in order.
async fn pipeline(proxy: &ProxyProc, first: &[u8], first_answers: usize) {
    let mut all = first.to_vec();
    for i in 0..HEADS {
        all.extend_from_slice(
            format!("GET /echo?i={i} HTTP/1.1\r\nHost: app.test\r\n\r\n").as_bytes(),
        );
    }
    let stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&all).await.unwrap();
        wr
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let want = HEADS + first_answers;
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen < want {
        let n = tokio::time::timeout_at(deadline, rd.read(&mut buf))
            .await
            .expect("answers in time")
            .unwrap();
        assert!(n > 0, "the proxy closed after {seen} answers");
        got.extend_from_slice(&buf[..n]);
        seen = count(&got, b"HTTP/1.1 200 OK");
    }
    let _wr = writer.await.unwrap();
    let text = String::from_utf8_lossy(&got);
    let mut at = 0;
    for i in 0..HEADS {
        let needle = format!("path: /echo?i={i}\n");
        let found = text[at..]
            .find(&needle)
            .unwrap_or_else(|| panic!("answer {i} missing or out of order"));
        at += found + needle.len();
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn check(first: &[u8], first_answers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &a.target(), &["--host", "app.test"]);
    let pid = proxy.child.id();
    // Warm up (thread pools, buffers), then measure.
    assert_eq!(get(proxy.http, "app.test", "/").await.0, 200);
    let before = status_kb(pid, "VmRSS:");
    pipeline(&proxy, first, first_answers).await;
    let peak = status_kb(pid, "VmHWM:");
    assert!(
        peak < before + 16 * 1024,
        "memory grew with the pipeline: {before} kB before, a peak of {peak} kB"
    );
    // Still serving.
    assert_eq!(get(proxy.http, "app.test", "/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_heads_on_the_fast_path_are_answered_in_order_with_flat_memory() {
    check(b"", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_heads_on_the_hyper_path_are_answered_in_order_with_flat_memory() {
    // A chunked request first: the connection moves to the general path with the bytes read
    // so far, which it replays.
    let first = b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    check(first, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_accept_and_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &["--max-connections", "5", "--workers", "2"]);
    proxy.deploy("app", &a.target(), &["--host", "app.test"]);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
        held.push(s);
    }
    // A burst over the cap: each is closed without an answer.
    for _ in 0..10 {
        let answer = raw(
            proxy.http,
            b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        assert!(
            answer.is_empty(),
            "a connection over the cap was served: {answer}"
        );
    }
    // Connections end: new ones are served again.
    held.clear();
    let mut served = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = raw(
            proxy.http,
            b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        if status_of(&answer) == 200 {
            served = true;
            break;
        }
    }
    assert!(served, "no connection served after the others closed");
    let mut log = Vec::new();
    while let Ok(line) = proxy.stderr_rest.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    let reached: Vec<_> = log
        .iter()
        .filter(|l| l.contains("connection limit reached"))
        .collect();
    assert_eq!(reached.len(), 1, "one line per burst: {log:#?}");
    assert!(reached[0].contains("--max-connections 5"), "{}", reached[0]);
    assert!(
        log.iter()
            .any(|l| l.contains("accepting connections again") && l.contains("10 refused")),
        "{log:#?}"
    );
}
