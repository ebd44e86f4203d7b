//! Serving one accepted client connection: the TLS handshake when it came in on the HTTPS
//! port (h2 when ALPN chose it, HTTP/1.1 otherwise), h2c on the plain port when the client
//! opens with the HTTP/2 preface, and HTTP/1.1 with keep-alive, upgrades,
//! the header read timeout and size limit (431) and the framing observer. Either kind shuts
//! down gracefully when `stop` flips: in-flight requests finish, idle connections close.

use crate::forward;
use crate::proxy::Proxy;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Serve one connection until it ends (or, after `stop`, until its requests finish);
/// `guard` lives as long as the connection is served.
///
/// An h2 connection moves to a task of its own (holding `guard`) and this one ends: a task
/// is as large as its future's largest state, here the HTTP/1.1 path's, so an h2 connection
/// kept in it held that room (1.6 KB) beside its own state for its whole life.
pub async fn serve<G: Send + 'static>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    proxy: Arc<Proxy>,
    stop: watch::Receiver<bool>,
    guard: G,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        // HTTP/2 without TLS (h2c) with prior knowledge: the client opens with the preface.
        if starts_with_h2_preface(&stream, proxy.limits.header_timeout).await {
            tokio::spawn(async move {
                let _guard = guard;
                h2(stream, peer, false, proxy, stop).await
            });
            return;
        }
        let _guard = guard;
        return http1(stream, peer, false, proxy, stop).await;
    };
    // Boxed, as h2 and the general path are: a task's future is as large as its largest
    // state, and the plain keep-alive connection waiting for its next request is the one
    // there are thousands of. (Boxing the HTTP/1.1 path too would take about 680 bytes off
    // each idle h2 connection and put about 640 on each idle HTTP/1.1 one: measured
    // 2026-12-07 with bench/proxy_conns.sh's method, 10,000 connections.)
    Box::pin(secure(stream, acceptor, peer, proxy, stop, guard)).await
}

/// A connection on the HTTPS port: the handshake, then h2 or HTTP/1.1 by ALPN.
async fn secure<G: Send + 'static>(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    stop: watch::Receiver<bool>,
    guard: G,
) {
    // A client gets as long for its TLS handshake as for its request head.
    let handshake =
        tokio::time::timeout(proxy.limits.header_timeout, acceptor.accept(stream)).await;
    let Ok(Ok(tls_stream)) = handshake else {
        return;
    };
    match tls_stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => {
            // Its own task, as for h2c (`serve`): this boxed future holds the handshake's
            // and the HTTP/1.1 path's room.
            tokio::spawn(async move {
                let _guard = guard;
                h2(tls_stream, peer, true, proxy, stop).await
            });
        }
        // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
        Some(crate::acme::challenges::ACME_TLS_ALPN) => {}
        _ => http1(tls_stream, peer, true, proxy, stop).await,
    }
}

/// HTTP/1.1: the fast path first; the general path from the first request it does not carry.
async fn http1<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    proxy: Arc<Proxy>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match crate::fast::serve(stream, peer, tls, &proxy, &mut stop).await {
        crate::fast::End::Closed => {}
        crate::fast::End::General(stream, read) => {
            Box::pin(general_http1(stream, read, peer, tls, proxy, stop)).await
        }
    }
}

/// HTTP/1.1 through hyper: upgrades, chunked and large bodies, and everything the proxy
/// answers itself or refuses. `read`: the bytes the fast path already read.
async fn general_http1<S>(
    stream: S,
    read: Vec<u8>,
    peer: SocketAddr,
    tls: bool,
    proxy: Arc<Proxy>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = proxy.limits.clone();
    let verdicts = crate::framing::Verdicts::default();
    let stream = crate::framing::Observed::after(read, stream, verdicts.clone());
    let linger_end = {
        let proxy = proxy.clone();
        move || proxy.drain.linger_end()
    };
    let svc = service_fn(move |req| {
        let proxy = proxy.clone();
        let verdicts = verdicts.clone();
        async move {
            let mut resp = forward::handle(proxy.clone(), peer, tls, verdicts, req).await?;
            if proxy.drain.stopping() {
                // This connection's last answer (see `drain.rs`); hyper closes it after.
                resp.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, hyper::Error>(resp)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper answers 431 when a request head does not fit (8 KiB minimum).
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {}
    }
    // Stopping: keep serving until the linger ends (a request that comes is answered with
    // `Connection: close`), then close if idle and finish what is under way.
    if let Some(end) = linger_end() {
        if tokio::time::timeout_at(end, conn.as_mut()).await.is_ok() {
            return;
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The first bytes of every HTTP/2 connection (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Do the connection's first bytes (peeked, not consumed) say HTTP/2? Decided as soon as they
/// differ from the preface, so HTTP/1 requests are not held up.
async fn starts_with_h2_preface(stream: &TcpStream, limit: std::time::Duration) -> bool {
    let mut buf = [0u8; 24];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // Part of the preface so far: wait for more bytes without spinning.
        let _ = tokio::time::timeout_at(deadline, stream.readable()).await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// HTTP/2 through hyper, with the patched h2 of vendor/h2 (PATCHES.md): an idle connection
/// holds no frame reader or writer buffer, no HPACK decode buffer, no stream or frame slots,
/// and no slice of a target response's buffer in its HPACK table; its reads go through this
/// thread's stock (`stock_io.rs`); it runs in a task of its own (`serve`). About 4.4 KB of RSS
/// per idle h2c connection is left (26.6 KB before), mostly hyper's and h2's connection state
/// itself (heaptrack, 2026-12-07: the task with the connection future 1.9 KB, h2's stream
/// registry 0.6 KB, HPACK tables 0.4 KB).
async fn h2<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    proxy: Arc<Proxy>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = proxy.limits.clone();
    // HTTP/2 frames its own messages: there is no Content-Length/Transfer-Encoding ambiguity
    // to observe, so every request gets an empty verdict.
    let verdicts = crate::framing::Verdicts::default();
    let svc =
        service_fn(move |req| forward::handle(proxy.clone(), peer, tls, verdicts.clone(), req));
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes.max(8192) as u32)
        .max_concurrent_streams(256)
        .serve_connection(TokioIo::new(crate::stock_io::StockIo::new(stream)), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
