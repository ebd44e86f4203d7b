//! Serving one accepted client connection: the TLS handshake when it came in on the HTTPS
//! port (h2 when ALPN chose it, HTTP/1.1 otherwise), and HTTP/1.1 with keep-alive, upgrades,
//! the header read timeout and size limit (431) and the framing observer. Either kind shuts
//! down gracefully when `stop` flips: in-flight requests finish, idle connections close.

use crate::forward::{self, Proxy};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Serve one connection until it ends (or, after `stop`, until its requests finish).
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    proxy: Arc<Proxy>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return http1(stream, peer, false, proxy, stop).await;
    };
    // A client gets as long for its TLS handshake as for its request head.
    let handshake =
        tokio::time::timeout(proxy.limits.header_timeout, acceptor.accept(stream)).await;
    let Ok(Ok(tls_stream)) = handshake else {
        return;
    };
    match tls_stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => h2(tls_stream, peer, proxy, stop).await,
        // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
        Some(crate::acme::challenges::ACME_TLS_ALPN) => {}
        _ => http1(tls_stream, peer, true, proxy, stop).await,
    }
}

async fn http1<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    proxy: Arc<Proxy>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = proxy.limits.clone();
    let verdicts = crate::framing::Verdicts::default();
    let stream = crate::framing::Observed::new(stream, verdicts.clone());
    let svc =
        service_fn(move |req| forward::handle(proxy.clone(), peer, tls, verdicts.clone(), req));
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
        _ = conn.as_mut() => {}
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn h2<S>(stream: S, peer: SocketAddr, proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = proxy.limits.clone();
    // HTTP/2 frames its own messages: there is no Content-Length/Transfer-Encoding ambiguity
    // to observe, so every request gets an empty verdict.
    let verdicts = crate::framing::Verdicts::default();
    let svc =
        service_fn(move |req| forward::handle(proxy.clone(), peer, true, verdicts.clone(), req));
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes.max(8192) as u32)
        .max_concurrent_streams(256)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
