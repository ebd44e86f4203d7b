//! Accepting client connections on the HTTP and HTTPS ports, on one data-plane thread per core
//! (see `spawn_workers`; connections spread evenly over them, see `balance.rs`), up to the
//! connection cap (see `Cap`), with graceful shutdown (stop accepting, let in-flight requests
//! finish); and the metrics port. One connection is served by `conn.rs`.

use crate::balance::{Balance, Handoff, Open};
use crate::proxy::Proxy;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::watch;

/// One data-plane thread's share of the work.
#[derive(Clone)]
struct Worker {
    me: usize,
    balance: Arc<Balance>,
    proxy: Arc<Proxy>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
    cap: Arc<Cap>,
}

/// The cap on client connections open at once, over every thread and both ports. A
/// connection over it is closed as soon as it is accepted rather than left in the listen
/// backlog: its client learns at once (and can retry, or go elsewhere) instead of waiting
/// unseen behind connections that may stay open for minutes (keep-alive, WebSockets), and
/// the backlog stays free for when connections end. Reaching the cap is logged once per
/// burst: when it is reached, and when the open connections are well below it again.
pub struct Cap {
    max: usize,
    at_cap: AtomicBool,
    refused: AtomicU64,
}

impl Cap {
    pub fn new(max: usize) -> Arc<Cap> {
        Arc::new(Cap {
            max: max.max(1),
            at_cap: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        })
    }

    /// May one more connection be served, with `open` open now? (Threads accepting at the
    /// same instant may each take the last place: the cap holds to within their number.)
    fn admit(&self, open: usize) -> bool {
        if open >= self.max {
            self.refused.fetch_add(1, Ordering::Relaxed);
            if !self.at_cap.swap(true, Ordering::SeqCst) {
                tracing::warn!(
                    open,
                    "connection limit reached: {open} client connections open \
                     (--max-connections {}); new connections are closed until some end",
                    self.max
                );
            }
            return false;
        }
        let calm = self.max - (self.max / 10).max(1);
        if open < calm
            && self.at_cap.load(Ordering::Relaxed)
            && self.at_cap.swap(false, Ordering::SeqCst)
        {
            let refused = self.refused.swap(0, Ordering::Relaxed);
            tracing::info!(
                open,
                refused,
                "accepting connections again ({open} open); {refused} refused while at the limit"
            );
        }
        true
    }
}

impl Worker {
    /// Serve a connection on this thread.
    fn spawn(&self, stream: TcpStream, peer: SocketAddr, tls: bool, open: Open) {
        let (proxy, stop) = (self.proxy.clone(), self.shutdown.clone());
        let acceptor = if tls { self.tls.clone() } else { None };
        tokio::spawn(crate::conn::serve(
            stream, peer, acceptor, proxy, stop, open,
        ));
    }

    fn stopping(&self) -> impl std::future::Future<Output = ()> {
        let mut shutdown = self.shutdown.clone();
        async move {
            let _ = shutdown.wait_for(|s| *s).await;
        }
    }
}

/// Accept on `listener` (the HTTPS port when `tls`) until shutdown, serving each connection
/// here or on the thread with fewer connections; then wait (up to `grace`) for this thread's
/// open connections.
async fn serve(listener: TcpListener, tls: bool, w: Worker, grace: Duration) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
                };
                tracing::debug!(peer = %peer, tls, "connection accepted");
                if !w.cap.admit(w.balance.total()) {
                    drop(stream);
                    continue;
                }
                let (worker, open) = w.balance.place(w.me);
                if worker == w.me {
                    w.spawn(stream, peer, tls, open);
                } else if let Ok(stream) = stream.into_std() {
                    // Fails once that thread stopped taking connections (a stop): this
                    // thread serves it then, as a stop never drops an accepted connection.
                    if let Err(h) = w.balance.send(worker, Handoff { stream, peer, tls, open }) {
                        if let Ok(stream) = TcpStream::from_std(h.stream) {
                            w.spawn(stream, h.peer, h.tls, h.open);
                        }
                    }
                }
            }
            _ = w.stopping() => break,
        }
    }
    drop(listener);
    // Lingering connections (see `drain.rs`) get their linger, then the grace like the rest.
    let mut deadline = tokio::time::Instant::now() + grace;
    if let Some(end) = w.proxy.drain.linger_end() {
        deadline = deadline.max(end + grace);
    }
    while w.balance.open(w.me) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serve the connections other threads hand to this one, until shutdown.
async fn receive(mut inbox: mpsc::UnboundedReceiver<Handoff>, w: Worker) {
    loop {
        tokio::select! {
            handed = inbox.recv() => {
                let Some(h) = handed else { break };
                if let Ok(stream) = TcpStream::from_std(h.stream) {
                    w.spawn(stream, h.peer, h.tls, h.open);
                }
            }
            _ = w.stopping() => {
                // No more hand-offs (senders serve them themselves); those already here are
                // served like the rest.
                inbox.close();
                while let Ok(h) = inbox.try_recv() {
                    if let Ok(stream) = TcpStream::from_std(h.stream) {
                        w.spawn(stream, h.peer, h.tls, h.open);
                    }
                }
                break;
            }
        }
    }
}

/// Where one port's connections come from: an address each thread binds itself
/// (SO_REUSEPORT), or sockets the port holder handed over (`ports_holder.rs`), shared out over
/// the threads.
pub enum Bind {
    Addr(SocketAddr),
    Held(Vec<std::net::TcpListener>),
}

impl Bind {
    /// Thread `i` of `threads`'s sockets: its own bound one, or its share of the held ones
    /// (every held socket is some thread's; with fewer sockets than threads, threads share).
    fn for_thread(&self, i: usize, threads: usize) -> std::io::Result<Source> {
        Ok(match self {
            Bind::Addr(a) => Source::Bind(*a),
            Bind::Held(held) if held.is_empty() => {
                return Err(std::io::Error::other("no sockets were handed over"))
            }
            Bind::Held(held) if held.len() < threads => {
                Source::Held(vec![held[i % held.len()].try_clone()?])
            }
            Bind::Held(held) => Source::Held(
                held.iter()
                    .skip(i)
                    .step_by(threads)
                    .map(|l| l.try_clone())
                    .collect::<std::io::Result<_>>()?,
            ),
        })
    }
}

/// One thread's sockets for one port, before its runtime starts.
enum Source {
    Bind(SocketAddr),
    Held(Vec<std::net::TcpListener>),
}

impl Source {
    /// The listening sockets, registered with this thread's runtime.
    fn open(self) -> std::io::Result<Vec<TcpListener>> {
        match self {
            Source::Bind(a) => Ok(vec![listen_reuseport(a)?]),
            Source::Held(held) => held
                .into_iter()
                .map(|l| {
                    l.set_nonblocking(true)?;
                    TcpListener::from_std(l)
                })
                .collect(),
        }
    }
}

/// Where the data plane listens.
pub struct Ports {
    pub http: Bind,
    /// The HTTPS sockets and their TLS config.
    pub https: Option<(Bind, Arc<rustls::ServerConfig>)>,
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
    let threads = threads.max(1);
    let mut bound: Option<(SocketAddr, Option<SocketAddr>)> = None;
    let mut handles = Vec::new();
    let (balance, inboxes) = Balance::new(threads);
    let cap = Cap::new(proxy.limits.max_connections);
    let tls = ports
        .https
        .as_ref()
        .map(|(_, c)| tokio_rustls::TlsAcceptor::from(c.clone()));
    for (i, inbox) in inboxes.into_iter().enumerate() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (proxy, shutdown, balance) = (proxy.clone(), shutdown.clone(), balance.clone());
        let (cap, tls) = (cap.clone(), tls.clone());
        // Threads after the first bind where the first did (its real port when asked for 0).
        let http = match (&ports.http, bound) {
            (Bind::Addr(_), Some((h, _))) => Source::Bind(h),
            (b, _) => b.for_thread(i, threads)?,
        };
        let https = match (&ports.https, bound) {
            (Some((Bind::Addr(_), _)), Some((_, Some(s)))) => Some(Source::Bind(s)),
            (Some((b, _)), _) => Some(b.for_thread(i, threads)?),
            (None, _) => None,
        };
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
                    let opened = http
                        .open()
                        .and_then(|h| Ok((h, https.map(Source::open).transpose()?)));
                    let (http, https) = match opened {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let addr = |l: &[TcpListener]| -> std::io::Result<SocketAddr> {
                        l.first()
                            .ok_or_else(|| std::io::Error::other("no listening socket"))?
                            .local_addr()
                    };
                    let addrs =
                        addr(&http).and_then(|h| Ok((h, https.as_deref().map(addr).transpose()?)));
                    let _ = tx.send(addrs);
                    let w = Worker {
                        me: i,
                        balance,
                        proxy,
                        tls,
                        shutdown,
                        cap,
                    };
                    let mut accepting = Vec::new();
                    for l in http {
                        accepting.push(serve(l, false, w.clone(), grace));
                    }
                    if w.tls.is_some() {
                        for l in https.into_iter().flatten() {
                            accepting.push(serve(l, true, w.clone(), grace));
                        }
                    }
                    tokio::join!(
                        receive(inbox, w.clone()),
                        futures::future::join_all(accepting)
                    );
                });
            })?;
        match rx.recv() {
            Ok(Ok(a)) => bound = bound.or(Some(a)),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a data-plane thread died at start")),
        }
        handles.push(handle);
    }
    let (http, https) = bound.ok_or_else(|| std::io::Error::other("no data-plane thread"))?;
    Ok(Workers {
        http,
        https,
        threads: handles,
    })
}

/// A listening socket on `addr` that other sockets of this process (or of the port holder) may
/// share (SO_REUSEPORT).
pub fn listen_reuseport(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
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
