//! The HTTP/1.1 data path against a target written on raw sockets, so the target can answer
//! the ways real apps do: chunked and streamed bodies with trailers, bodies delimited by
//! closing, informational responses, keep-alive connections it closes whenever it likes, and
//! broken response heads. Clients are raw sockets too: pipelined requests, a switch to the
//! general path in the middle of a connection, hop-by-hop headers, HTTP/1.0.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);

/// A target that answers by path:
/// `/chunked` streams two chunks and a trailer, the second only after `release` is notified;
/// `/until-close` has no length and closes; `/hints` sends 103 before its 200;
/// `/then-close` answers with a length, then closes the connection (no `Connection: close`);
/// `/bad-length` sends two different Content-Lengths; anything else echoes the request head
/// (and the body's size) with a Content-Length. Counts connections.
struct RawTarget {
    addr: SocketAddr,
    release: Arc<Notify>,
    connections: Arc<AtomicU64>,
    /// `/hang` requests whose client side closed before an answer.
    hung_up: Arc<AtomicU64>,
}

impl RawTarget {
    async fn start() -> RawTarget {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let release = Arc::new(Notify::new());
        let connections = Arc::new(AtomicU64::new(0));
        let hung_up = Arc::new(AtomicU64::new(0));
        let (rel, count, hung) = (release.clone(), connections.clone(), hung_up.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_raw(s, rel.clone(), hung.clone()));
            }
        });
        RawTarget {
            addr,
            release,
            connections,
            hung_up,
        }
    }

    fn target(&self) -> String {
        self.addr.to_string()
    }
}

/// A complete chunked body at the start of `buf` (no trailers): (data bytes, body bytes).
fn dechunk(buf: &[u8]) -> Option<(usize, usize)> {
    let (mut at, mut data) = (0, 0);
    loop {
        let line_end = find(&buf[at..], b"\r\n")? + at;
        let size = usize::from_str_radix(std::str::from_utf8(&buf[at..line_end]).ok()?, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            return (buf.len() >= at + 2).then_some((data, at + 2));
        }
        at += size + 2;
        data += size;
        if buf.len() < at {
            return None;
        }
    }
}

/// Read more of a target-side connection; false when it ended.
async fn read_into(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(k) => {
            buf.extend_from_slice(&chunk[..k]);
            true
        }
    }
}

async fn w(s: &mut TcpStream, b: String) -> bool {
    s.write_all(b.as_bytes()).await.is_ok()
}

async fn serve_raw(mut s: TcpStream, release: Arc<Notify>, hung_up: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut short_keepalive = false;
    loop {
        // One request head (and its Content-Length body).
        let (head, path, method, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let len = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                    .unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                break (
                    head,
                    req.path.unwrap().to_string(),
                    req.method.unwrap().to_string(),
                    (n, len),
                );
            }
            let mut chunk = [0u8; 4096];
            // After a `/short-keepalive` answer an idle connection is closed after 20 ms.
            let wait = if short_keepalive {
                Duration::from_millis(20)
            } else {
                Duration::from_secs(3600)
            };
            match tokio::time::timeout(wait, s.read(&mut chunk)).await {
                Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let (n, mut len) = body_len;
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            // Chunked: the body ends at the last chunk's empty line; `len` counts its data.
            buf.drain(..n);
            let (data, end) = loop {
                if let Some(done) = dechunk(&buf) {
                    break done;
                }
                if !read_into(&mut s, &mut buf).await {
                    return;
                }
            };
            buf.drain(..end);
            len = data;
        } else {
            while buf.len() < n + len {
                if !read_into(&mut s, &mut buf).await {
                    return;
                }
            }
            buf.drain(..n + len);
        }
        match path.as_str() {
            "/up" => {
                if !w(
                    &mut s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup".into(),
                )
                .await
                {
                    return;
                }
            }
            "/chunked" => {
                let first = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n7\r\nfirst\r\n\r\n";
                if !w(&mut s, first.into()).await {
                    return;
                }
                release.notified().await;
                if !w(&mut s, "8\r\nsecond\r\n\r\n0\r\nX-Sum: 13\r\n\r\n".into()).await {
                    return;
                }
            }
            "/http10" => {
                // An HTTP/1.0 server (Python's http.server, old app servers): its own version,
                // then the connection's end.
                let _ = w(
                    &mut s,
                    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".into(),
                )
                .await;
                return;
            }
            "/until-close" => {
                let _ = w(
                    &mut s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it until the end"
                        .into(),
                )
                .await;
                return;
            }
            "/hints" => {
                let resp = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal";
                if !w(&mut s, resp.into()).await {
                    return;
                }
            }
            "/hang" => {
                // Never answer; count the proxy closing the connection.
                let mut rest = [0u8; 64];
                while let Ok(n) = s.read(&mut rest).await {
                    if n == 0 {
                        break;
                    }
                }
                hung_up.fetch_add(1, Ordering::SeqCst);
                return;
            }
            "/short-keepalive" => {
                short_keepalive = true;
                if !w(
                    &mut s,
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                        &method[..2]
                    ),
                )
                .await
                {
                    return;
                }
            }
            "/then-close" => {
                let _ = w(
                    &mut s,
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                        &method[..2]
                    ),
                )
                .await;
                return;
            }
            "/bad-length" => {
                let _ = w(
                    &mut s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".into(),
                )
                .await;
                return;
            }
            _ => {
                let body = if method == "HEAD" {
                    String::new()
                } else {
                    format!("{head}body: {len}")
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{body}",
                    if method == "HEAD" { 50 } else { body.len() }
                );
                if !w(&mut s, resp).await {
                    return;
                }
            }
        }
    }
}

/// Read one response (length, chunked, or until close) from a client connection: status,
/// head and body (chunked bodies are returned as received, framing included).
async fn response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> (u16, String, String) {
    let (status, head_len, length, chunked) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(n) = resp.parse(buf).unwrap() {
            let get = |name: &str| {
                resp.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let length = get("content-length").and_then(|v| v.parse::<usize>().ok());
            let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
            break (resp.code.unwrap(), n, length, chunked);
        }
        assert!(
            read_more(s, buf).await > 0,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(buf)
        );
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    buf.drain(..head_len);
    let body_len = if head_request || status == 204 || status == 304 {
        0
    } else if chunked {
        loop {
            if let Some(i) = find(buf, b"\r\n0\r\n") {
                if let Some(end) = find(&buf[i + 5..], b"\r\n\r\n").map(|e| i + 5 + e + 4) {
                    break end;
                }
            }
            assert!(read_more(s, buf).await > 0, "closed mid-body");
        }
    } else if let Some(n) = length {
        while buf.len() < n {
            assert!(read_more(s, buf).await > 0, "closed mid-body");
        }
        n
    } else {
        while read_more(s, buf).await > 0 {}
        buf.len()
    };
    let body = String::from_utf8_lossy(&buf[..body_len]).into_owned();
    buf.drain(..body_len);
    (status, head, body)
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
        .await
        .expect("the proxy did not answer")
        .unwrap();
    buf.extend_from_slice(&chunk[..n]);
    n
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn setup(extra: &[&str]) -> (tempfile::TempDir, RawTarget, ProxyProc) {
    let dir = tempfile::tempdir().unwrap();
    let target = RawTarget::start().await;
    let proxy = ProxyProc::start(dir.path(), extra);
    proxy.deploy("app", &target.target(), &["--host", "app.test"]);
    (dir, target, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_keep_their_order_across_both_paths_and_hop_by_hop_headers_stop() {
    let (_d, _t, proxy) = setup(&["--max-body-bytes", "100000"]).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    // Plain GET, a chunked POST (the general path takes the connection over), a plain POST
    // with a body, then a GET with hop-by-hop headers: all in one write.
    let chunk = "c".repeat(300);
    let pipelined = format!(
        "GET /one?x=1 HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n\r\n\
         POST /two HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n{chunk}\r\n0\r\n\r\n\
         POST /three HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\nhello world\
         GET /four HTTP/1.1\r\nHost: app.test\r\n\r\n"
    );
    s.write_all(pipelined.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let (status, head, body) = response(&mut s, &mut buf, false).await;
        assert_eq!(status, 200, "{head}{body}");
        assert!(
            head.to_ascii_lowercase().contains("x-request-id: "),
            "{head}"
        );
        bodies.push(body);
    }
    assert!(
        bodies[0].starts_with("GET /one?x=1 HTTP/1.1\r\n"),
        "{}",
        bodies[0]
    );
    let first = bodies[0].to_ascii_lowercase();
    for hop in ["keep-alive", "\nte:", "connection:"] {
        assert!(!first.contains(hop), "{hop} reached the target: {first}");
    }
    assert!(
        bodies[1].starts_with("POST /two HTTP/1.1\r\n") && bodies[1].ends_with("body: 300"),
        "{}",
        bodies[1]
    );
    assert!(
        bodies[2].starts_with("POST /three HTTP/1.1\r\n") && bodies[2].ends_with("body: 11"),
        "{}",
        bodies[2]
    );
    assert!(
        bodies[3].starts_with("GET /four HTTP/1.1\r\n"),
        "{}",
        bodies[3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_stream_passes_through_as_it_comes_with_its_trailer() {
    let (_d, target, proxy) = setup(&[]).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /chunked HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    // The first event arrives while the target still holds the rest back.
    let mut got = Vec::new();
    while find(&got, b"first\r\n").is_none() {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .expect("the first chunk was held back by the proxy")
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
    target.release.notify_one();
    let (status, head, body) = response(&mut s, &mut got, false).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    assert!(
        body.contains("first\r\n") && body.contains("second\r\n"),
        "{body}"
    );
    assert!(
        body.ends_with("0\r\nX-Sum: 13\r\n\r\n"),
        "the trailer is kept: {body:?}"
    );
    // The connection still serves: the end of the stream was found.
    s.write_all(b"GET /after HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let (status, _, body) = response(&mut s, &mut got, false).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("GET /after "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_clients_keep_alive_only_when_asked_and_never_get_chunks() {
    let (_d, target, proxy) = setup(&[]).await;
    // Keep-alive asked for (as `ab -k` does): said back, and the connection serves again.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    for path in ["/a", "/b"] {
        let req =
            format!("GET {path} HTTP/1.0\r\nHost: app.test\r\nConnection: Keep-Alive\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let (status, head, body) = response(&mut s, &mut buf, false).await;
        assert_eq!(status, 200, "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains("connection: keep-alive\r\n"), "{head}");
        assert!(lower.contains("content-length: "), "{head}");
        // Sent on as HTTP/1.1, without the client's connection header.
        assert!(
            body.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{body}"
        );
        assert!(!body.to_ascii_lowercase().contains("connection:"), "{body}");
    }
    // A chunked response: the HTTP/1.0 client gets the data, ended by the connection's end,
    // and no chunk framing or trailer.
    target.release.notify_one();
    s.write_all(b"GET /chunked HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = response(&mut s, &mut buf, false).await;
    assert_eq!(status, 200, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        !lower.contains("transfer-encoding") && !lower.contains("content-length"),
        "{head}"
    );
    assert!(lower.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, "first\r\nsecond\r\n");
    // Keep-alive not asked for: one answer, then the proxy closes.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"GET /c HTTP/1.0\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = response(&mut s, &mut buf, false).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close\r\n"),
        "{head}"
    );
    assert!(body.starts_with("GET /c HTTP/1.1\r\n"), "{body}");
    assert_eq!(
        read_more(&mut s, &mut buf).await,
        0,
        "the connection stays open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_target_is_answered_as_http11_on_both_paths_and_the_client_kept() {
    let (_d, _target, proxy) = setup(&[]).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    // A chunked request body takes the general path; a plain GET the fast one.
    let general =
        "GET /http10 HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let fast = "GET /http10 HTTP/1.1\r\nHost: app.test\r\n\r\n";
    for req in [general, fast, general] {
        s.write_all(req.as_bytes()).await.unwrap();
        let (status, head, body) = response(&mut s, &mut buf, false).await;
        assert_eq!((status, body.as_str()), (200, "ok"), "{head}");
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "a proxy answers with its own version: {head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_closing_its_keep_alive_connections_costs_no_request() {
    let (_d, target, proxy) = setup(&[]).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    // A target that closes right after answering, without saying so: a GET that meets the
    // closed connection is sent again on a new one.
    let before = target.connections.load(Ordering::SeqCst);
    for i in 0..20 {
        s.write_all(b"GET /then-close HTTP/1.1\r\nHost: app.test\r\n\r\n")
            .await
            .unwrap();
        let (status, head, body) = response(&mut s, &mut buf, false).await;
        assert_eq!((status, body.as_str()), (200, "GE"), "request {i}: {head}");
    }
    assert!(target.connections.load(Ordering::SeqCst) - before >= 20);
    // A target with a short keep-alive timeout (Node's is 5 s): idle connections it closed
    // are not used, for POSTs (never sent twice) as for GETs.
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let req: &[u8] = if i % 2 == 0 {
            b"GET /short-keepalive HTTP/1.1\r\nHost: app.test\r\n\r\n"
        } else {
            b"POST /short-keepalive HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc"
        };
        s.write_all(req).await.unwrap();
        let (status, head, body) = response(&mut s, &mut buf, false).await;
        assert_eq!(status, 200, "request {i}: {head}{body}");
        assert_eq!(body, if i % 2 == 0 { "GE" } else { "PO" });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unframed_head_and_informational_responses() {
    let (_d, _t, proxy) = setup(&[]).await;
    // No length: the body ends when the target closes, and so does the client connection.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /until-close HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (status, head, body) = response(&mut s, &mut buf, false).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "all of it until the end"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );

    // HEAD: the length is announced, no body follows, the connection goes on.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"HEAD /page HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = response(&mut s, &mut buf, true).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        head.to_ascii_lowercase().contains("content-length: 50"),
        "{head}"
    );
    // 103 Early Hints is not passed on; the final response is.
    s.write_all(b"GET /hints HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = response(&mut s, &mut buf, false).await;
    assert_eq!((status, body.as_str()), (200, "final"), "{head}");
    assert!(buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_response_head_is_a_502_that_says_why() {
    let (_d, _t, proxy) = setup(&[]).await;
    let answer = raw(
        proxy.http,
        b"GET /bad-length HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&answer), 502, "{answer}");
    assert!(answer.contains("conflicting Content-Length"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_frees_the_target_connection() {
    let (_d, target, proxy) = setup(&["--response-timeout", "60s"]).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /hang HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(target.hung_up.load(Ordering::SeqCst), 0);
    drop(s);
    // The proxy drops the target connection at once, not at the 60 s response timeout.
    let mut waited = Duration::ZERO;
    while target.hung_up.load(Ordering::SeqCst) == 0 {
        assert!(
            waited < WAIT,
            "the target connection stayed open after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}
