//! Accepting client connections on the HTTP and HTTPS ports, on one data-plane thread per core
//! (see `spawn_workers`), with graceful shutdown (stop accepting, let in-flight requests
//! finish); and the metrics port. One connection is served by `conn.rs`.

use crate::forward::Proxy;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serve `listener` (TLS when `tls` is given) until `shutdown` flips, then wait (up to
/// `grace`) for open connections.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    proxy: Arc<Proxy>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
                };
                let (proxy, stop, open, tls) = (proxy.clone(), shutdown.clone(), open.clone(), tls.clone());
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    crate::conn::serve(stream, peer, tls, proxy, stop).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + grace;
    while open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where the data plane listens.
#[derive(Clone)]
pub struct Ports {
    pub http: SocketAddr,
    /// The HTTPS address and its TLS config.
    pub https: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
}

/// The running data plane: the bound addresses and its threads.
pub struct Workers {
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub threads: Vec<std::thread::JoinHandle<()>>,
}

/// Start `threads` data-plane threads, each with its own single-threaded runtime and its own
/// listening sockets (SO_REUSEPORT: the kernel spreads connections over them), like nginx's
/// worker processes. Returns the bound addresses (the real ports when a port was 0) and the
/// threads, which end once `shutdown` flipped and their connections finished.
pub fn spawn_workers(
    ports: Ports,
    threads: usize,
    proxy: Arc<Proxy>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<Workers> {
    let mut bound = (ports.http, ports.https.as_ref().map(|(a, _)| *a));
    let mut handles = Vec::new();
    for i in 0..threads.max(1) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (proxy, shutdown) = (proxy.clone(), shutdown.clone());
        let at = bound;
        let tls = ports
            .https
            .as_ref()
            .map(|(_, c)| tokio_rustls::TlsAcceptor::from(c.clone()));
        let handle = std::thread::Builder::new()
            .name(format!("dhow-proxy-http-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listen = || -> std::io::Result<_> {
                        let http = listen_reuseport(at.0)?;
                        let https = match at.1 {
                            Some(a) => Some(listen_reuseport(a)?),
                            None => None,
                        };
                        Ok((http, https))
                    };
                    let (http, https) = match listen() {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let addrs = http
                        .local_addr()
                        .and_then(|h| Ok((h, https.as_ref().map(|s| s.local_addr()).transpose()?)));
                    let _ = tx.send(addrs);
                    let plain = serve(http, None, proxy.clone(), shutdown.clone(), grace);
                    match (https, tls) {
                        (Some(l), Some(acceptor)) => {
                            let secure = serve(l, Some(acceptor), proxy, shutdown, grace);
                            tokio::join!(plain, secure);
                        }
                        _ => plain.await,
                    }
                });
            })?;
        match rx.recv() {
            Ok(Ok(a)) => bound = a,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a data-plane thread died at start")),
        }
        handles.push(handle);
    }
    Ok(Workers {
        http: bound.0,
        https: bound.1,
        threads: handles,
    })
}

fn listen_reuseport(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serve `/metrics` (Prometheus text format) on `listener` until `shutdown` flips.
pub async fn serve_metrics(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let proxy = proxy.clone();
                        async move {
                            let (status, body) = if req.uri().path() == "/metrics" {
                                (200, crate::metrics::render(&proxy.table.load(), &proxy.metrics))
                            } else {
                                (404, "see /metrics\n".to_string())
                            };
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        }
                    });
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
        }
    }
}
