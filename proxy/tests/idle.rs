//! Thousands of idle keep-alive connections, then a request on every one of them at once:
//! each is answered (the fast path gives its buffers back while a connection waits and takes
//! them again when bytes arrive; this is the check that nothing is lost in that hand-back),
//! over HTTP/1.1 and h2c. The proxy's resident memory per idle HTTP/1.1 connection is printed
//! and held to 4 KiB (it was 19 KiB when every connection kept its own read buffer).
//!
//! The backend runs in a process of its own (this test binary, started again with
//! `backend_process`), so the test's client sockets and the backend's do not share one
//! open-file limit.

mod support;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// DHOW_IDLE_CONNECTIONS (10,000 by default), unless the open-file limit cannot hold them and
/// the proxy's target connections in one process: during the burst the proxy holds every
/// client connection and up to as many to the target, so it needs twice as many descriptors
/// (with a hard limit of 20,000, about 9,700). The count used is printed.
fn connections() -> usize {
    let wanted = std::env::var("DHOW_IDLE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    let fits = (lim.rlim_max as usize).saturating_sub(512) / 2;
    if fits < wanted {
        println!(
            "{wanted} connections asked for; {fits} fit the open-file limit ({})",
            lim.rlim_max
        );
    }
    wanted.min(fits)
}

/// The two tests take turns: together their sockets would not fit in one open-file limit.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rss_kb(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Not a check of its own: the backend process the tests below start (it does nothing when
/// run without DHOW_IDLE_BACKEND). It prints its address, then serves until stdin closes.
#[test]
fn backend_process() {
    if std::env::var_os("DHOW_IDLE_BACKEND").is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let backend = Backend::start("idle").await;
        println!("BACKEND {}", backend.target());
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    });
}

struct BackendProc(std::process::Child, String);

impl BackendProc {
    fn start() -> BackendProc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "backend_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DHOW_IDLE_BACKEND", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let addr = out
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split("BACKEND ").nth(1).map(|a| a.trim().to_string()))
            .expect("the backend process prints its address");
        BackendProc(child, addr)
    }
}

impl Drop for BackendProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proxy_for(backend: &BackendProc, dir: &std::path::Path) -> ProxyProc {
    let proxy = ProxyProc::start(dir, &["--max-connections", "30000"]);
    proxy.deploy("idle", &backend.1, &["--host", "idle.test"]);
    proxy
}

/// One HTTP/1.1 GET on an open connection; the status.
async fn h1_get(conn: &mut TcpStream) -> u16 {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed an idle connection");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return status_of(&text);
            }
        }
    }
}

/// Open `n` connections, `open` at a time, each with one request answered.
async fn open_many<T, F, Fut>(n: usize, open: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    futures::stream::iter((0..n).map(|_| open()))
        .buffer_unordered(256)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http1_connections_then_a_burst_on_all() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let n = connections();
    let backend = BackendProc::start();
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy_for(&backend, dir.path());
    let before = rss_kb(proxy.child.id());
    let mut conns = open_many(n, || async {
        let mut c = TcpStream::connect(proxy.http).await.unwrap();
        assert_eq!(h1_get(&mut c).await, 200);
        c
    })
    .await;
    let per_conn = idle_rss_per_conn(&proxy, before, n, "HTTP/1.1").await;
    let burst = conns
        .drain(..)
        .map(|mut c| tokio::spawn(async move { h1_get(&mut c).await }));
    let ok = answered_200(burst).await;
    assert_eq!(ok, n, "every idle connection's request answered 200");
    assert!(
        per_conn <= 4096,
        "{per_conn} bytes per idle connection (at most 4096)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2c_connections_then_a_burst_on_all() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let n = connections();
    let backend = BackendProc::start();
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy_for(&backend, dir.path());
    let before = rss_kb(proxy.child.id());
    let addr = proxy.http;
    let senders = open_many(n, || async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        assert_eq!(h2_get(&mut send).await, 200);
        send
    })
    .await;
    idle_rss_per_conn(&proxy, before, n, "h2c").await;
    let burst = senders
        .into_iter()
        .map(|mut s| tokio::spawn(async move { h2_get(&mut s).await }));
    let ok = answered_200(burst).await;
    assert_eq!(ok, n, "every idle h2 connection's request answered 200");
}

/// After the connections settle: the proxy's RSS growth per connection since `before`, printed.
async fn idle_rss_per_conn(proxy: &ProxyProc, before: u64, n: usize, kind: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_conn = (rss_kb(proxy.child.id()).saturating_sub(before)) * 1024 / n as u64;
    println!("{n} idle {kind} connections: {per_conn} bytes of proxy RSS each");
    per_conn
}

/// How many of the requests, all under way at once, were answered 200.
async fn answered_200(burst: impl Iterator<Item = tokio::task::JoinHandle<u16>>) -> usize {
    let burst: Vec<_> = burst.collect();
    let mut ok = 0;
    for b in burst {
        if b.await.unwrap() == 200 {
            ok += 1;
        }
    }
    ok
}

async fn h2_get(send: &mut hyper::client::conn::http2::SendRequest<Empty<bytes::Bytes>>) -> u16 {
    let req = hyper::Request::get("http://idle.test/")
        .body(Empty::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}
