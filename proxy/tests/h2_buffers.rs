//! h2 connections give their read and write buffers back while they wait (the patched h2 in
//! vendor/h2 and `stock_io.rs`), so what arrives and leaves around those waits must still be
//! whole: a client trickling its bytes one at a time with pauses (every frame split across
//! waits), a 1 MiB request body in 16 KiB frames, 100 concurrent streams on one connection,
//! a connection that waits between requests, and raw hostile frames (a frame header cut in
//! two with a pause, an oversized frame, garbage after the preface) answered by a GOAWAY or
//! a close, never a hang or a crash of the proxy.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// A stream that writes one byte per call and pauses every 7 bytes (each pause lets the proxy
/// find nothing more to read, so it gives its read buffer back mid-frame).
struct Trickle {
    inner: tokio::net::TcpStream,
    written: usize,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Trickle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(p) = self.pause.as_mut() {
            if p.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        let n =
            std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..buf.len().min(1)]))?;
        self.written += n;
        if self.written % 7 == 0 {
            self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(2))));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

use std::future::Future;

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn h2c<S>(io: S) -> Sender
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn send(sender: &mut Sender, method: &str, path: &str, body: Bytes) -> (u16, String) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://app.test{path}"))
        .header("x-long-header", "v".repeat(3000))
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_around_the_buffer_hand_back_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &backend.target(), &["--host", "app.test"]);

    // Trickled: every frame split over many reads with waits between them.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut sender = h2c(Trickle {
        inner: tcp,
        written: 0,
        pause: None,
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            send(&mut sender, "GET", "/", Bytes::new()).await,
            (200, "app".into())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One connection: a 1 MiB body, 100 streams at once, then again after a wait.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut sender = h2c(tcp).await;
    let big = Bytes::from(vec![b'x'; 1 << 20]);
    let (status, body) = send(&mut sender, "POST", "/", big).await;
    assert_eq!((status, body.as_str()), (200, "app got 1048576 bytes"));
    for round in 0..2 {
        let all = futures::future::join_all((0..100).map(|i| {
            let mut s = sender.clone();
            async move { send(&mut s, "POST", "/", Bytes::from(vec![b'y'; i * 97])).await }
        }))
        .await;
        for (i, (status, body)) in all.into_iter().enumerate() {
            let want = if i == 0 {
                "app".to_string()
            } else {
                format!("app got {} bytes", i * 97)
            };
            assert_eq!((status, body), (200, want), "round {round} stream {i}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Raw h2c bytes: the preface and an empty SETTINGS frame.
fn preface() -> Vec<u8> {
    let mut b = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    b.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    b
}

/// Read until the proxy closes or 5 s pass: what it sent, and whether it closed.
async fn drain(s: &mut tokio::net::TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A GOAWAY frame (type 7) is somewhere in `bytes` (frames in order from the start).
fn has_goaway(bytes: &[u8]) -> bool {
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = (usize::from(bytes[at]) << 16)
            | (usize::from(bytes[at + 1]) << 8)
            | usize::from(bytes[at + 2]);
        if bytes[at + 3] == 7 {
            return true;
        }
        at += 9 + len;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_frames_get_a_goaway_or_a_close_and_the_proxy_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &backend.target(), &["--host", "app.test"]);

    // A frame over the default max frame size (16 KiB), its header cut in two by a pause.
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(&preface()).await.unwrap();
    s.write_all(&[0x01, 0x00]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(&[0x00, 0x00, 0x04, 0, 0, 0, 1]).await.unwrap();
    s.write_all(&vec![0u8; 1 << 16]).await.ok();
    let (got, closed) = drain(&mut s).await;
    assert!(
        has_goaway(&got) && closed,
        "oversized frame: {} bytes back, closed {closed}",
        got.len()
    );

    // Garbage after the preface.
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut bytes = preface();
    bytes.extend_from_slice(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffnot a frame at all");
    s.write_all(&bytes).await.unwrap();
    let (_, closed) = drain(&mut s).await;
    assert!(closed, "garbage: the connection stays open");

    // A HEADERS frame with a broken HPACK block.
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut bytes = preface();
    bytes.extend_from_slice(&[0, 0, 4, 1, 0x05, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    s.write_all(&bytes).await.unwrap();
    let (got, closed) = drain(&mut s).await;
    assert!(has_goaway(&got) && closed, "bad HPACK: closed {closed}");

    // The proxy still serves.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let mut sender = h2c(tcp).await;
    assert_eq!(
        send(&mut sender, "GET", "/", Bytes::new()).await,
        (200, "app".into())
    );
}
