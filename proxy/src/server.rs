//! Accepting client connections: HTTP/1.1 with keep-alive and upgrades, a header read
//! timeout against slowloris and a header size limit (431), graceful shutdown (stop accepting,
//! let in-flight requests finish, close idle keep-alive connections); and the metrics port.

use crate::forward::{self, Proxy};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serve `listener` until `shutdown` flips, then wait (up to `grace`) for open connections.
pub async fn serve(
    listener: TcpListener,
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
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                let mut stop = shutdown.clone();
                let open = open.clone();
                open.fetch_add(1, Ordering::SeqCst);
                let limits = proxy.limits.clone();
                tokio::spawn(async move {
                    let verdicts = crate::framing::Verdicts::default();
                    let stream = crate::framing::Observed::new(stream, verdicts.clone());
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        // hyper answers 431 when a request head does not fit (8 KiB minimum).
                        .max_buf_size(limits.max_header_bytes.max(8192))
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(move |req| forward::handle(proxy.clone(), peer, verdicts.clone(), req)))
                        .with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
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

/// Start `threads` data-plane threads, each with its own single-threaded runtime and its own
/// listening socket on `addr` (SO_REUSEPORT: the kernel spreads connections over them), like
/// nginx's worker processes. Returns the bound address (the real port when `addr` has port 0)
/// and the threads, which end once `shutdown` flipped and their connections finished.
pub fn spawn_workers(
    addr: std::net::SocketAddr,
    threads: usize,
    proxy: Arc<Proxy>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<(std::net::SocketAddr, Vec<std::thread::JoinHandle<()>>)> {
    let mut bound = addr;
    let mut handles = Vec::new();
    for i in 0..threads.max(1) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (proxy, shutdown) = (proxy.clone(), shutdown.clone());
        let at = bound;
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
                    let listener = match listen_reuseport(at) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = tx.send(listener.local_addr());
                    serve(listener, proxy, shutdown, grace).await;
                });
            })?;
        match rx.recv() {
            Ok(Ok(a)) => bound = a,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a data-plane thread died at start")),
        }
        handles.push(handle);
    }
    Ok((bound, handles))
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
