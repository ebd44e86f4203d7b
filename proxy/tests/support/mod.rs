//! Test support for dhow-proxy: real backends (hyper servers on loopback that count what they
//! serve), the real `dhow-proxy` binary started on an ephemeral port with its own control
//! socket and state file, its subcommands as a user runs them, a keep-alive load generator
//! and a raw-socket client.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that answers `/` with its name, `/up` with 200 (or 503 when unhealthy),
/// `/slow?ms=N` after N ms, `/echo` with the request headers, and counts requests.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub served: Arc<AtomicU64>,
    pub healthy: Arc<AtomicBool>,
    /// When N > 0, every Nth request to `/` is answered 500 (its health check still passes).
    pub fail_every: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        Backend::start_with(name, true).await
    }

    pub async fn start_with(name: &str, healthy: bool) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let healthy = Arc::new(AtomicBool::new(healthy));
        let fail_every = Arc::new(AtomicU64::new(0));
        let (n, s, h) = (name.to_string(), served.clone(), healthy.clone());
        let f = fail_every.clone();
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (n, s, h, f) = (n.clone(), s.clone(), h.clone(), f.clone());
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        answer(n.clone(), s.clone(), h.clone(), f.clone(), req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades();
                    tokio::select! {
                        _ = conn => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        Backend {
            name: name.into(),
            addr,
            served,
            healthy,
            fail_every,
            task,
            shutdown,
        }
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// Stop accepting, close the listener and every open connection.
    pub fn stop(&self) {
        self.task.abort();
        let _ = self.shutdown.send(true);
    }
}

async fn answer(
    name: String,
    served: Arc<AtomicU64>,
    healthy: Arc<AtomicBool>,
    fail_every: Arc<AtomicU64>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    if path == "/up" {
        let ok = healthy.load(Ordering::SeqCst);
        return Ok(Response::builder()
            .status(if ok { 200 } else { 503 })
            .body(Full::new(Bytes::from(if ok { "up" } else { "down" })))
            .unwrap());
    }
    let n = served.fetch_add(1, Ordering::SeqCst) + 1;
    let every = fail_every.load(Ordering::SeqCst);
    if path == "/" && every > 0 && n % every == 0 {
        return Ok(Response::builder()
            .status(500)
            .body(Full::new(Bytes::from(format!("{name} failed"))))
            .unwrap());
    }
    if path == "/slow" {
        let ms: u64 = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if path == "/echo" {
        let mut out = String::new();
        for (k, v) in req.headers() {
            out.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
        }
        out.push_str(&format!("path: {}\n", req.uri()));
        return Ok(Response::new(Full::new(Bytes::from(out))));
    }
    if path == "/ws" {
        // Echo every byte of an upgraded connection.
        let mut req = req;
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = TokioIo::new(up);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        return Ok(Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let body = req.into_body().collect().await?.to_bytes();
    let text = if body.is_empty() {
        name
    } else {
        format!("{name} got {} bytes", body.len())
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// The real `dhow-proxy run`, killed when dropped.
pub struct ProxyProc {
    pub child: Child,
    pub http: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub control: PathBuf,
    pub state: PathBuf,
    /// The first line it logged (startup), and a channel of the rest of its stderr.
    pub stderr_rest: std::sync::mpsc::Receiver<String>,
    pub startup: String,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dhow-proxy")
}

impl ProxyProc {
    /// Start with files in `dir` and extra `run` flags.
    pub fn start(dir: &Path, extra: &[&str]) -> ProxyProc {
        let control = dir.join("control.sock");
        let state = dir.join("state.json");
        let http = if extra.contains(&"--http") {
            &[][..]
        } else {
            &["--http", "127.0.0.1:0"][..]
        };
        let mut child = Command::new(bin())
            .arg("--control")
            .arg(&control)
            .arg("run")
            .args(http)
            .args(["--quiet", "--state"])
            .arg(&state)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dhow-proxy");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Lines before the startup line (e.g. a corrupt state report) are kept in `startup`.
        let mut seen = String::new();
        let started = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("dhow-proxy did not start; it said: {seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening on") {
                break line;
            }
        };
        let v: serde_json::Value = serde_json::from_str(&started).unwrap();
        ProxyProc {
            child,
            http: v["http"].as_str().unwrap().parse().unwrap(),
            metrics: v["metrics"].as_str().map(|m| m.parse().unwrap()),
            control,
            state,
            stderr_rest: rx,
            startup: seen,
        }
    }

    /// Run a `dhow-proxy` client subcommand against this proxy: (success, stdout + stderr).
    pub fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(bin())
            .arg("--control")
            .arg(&self.control)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The same, from async code (does not block the runtime's other tasks).
    pub async fn ctl_async(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.arg("--control").arg(&self.control).args(args);
        let out = cmd.output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `deploy SERVICE --target T` with quick health checks, panicking on failure.
    pub fn deploy(&self, service: &str, target: &str, extra: &[&str]) -> String {
        let (ok, out) = self.ctl(&deploy_args(service, target, extra));
        assert!(ok, "deploy {service} -> {target} failed: {out}");
        out
    }

    /// The same from async code, returning (success, output) for the caller to judge.
    pub async fn deploy_async(
        &self,
        service: &str,
        target: &str,
        extra: &[&str],
    ) -> (bool, String) {
        self.ctl_async(&deploy_args(service, target, extra)).await
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }
}

/// `deploy SERVICE --target T --health-interval 50ms EXTRA...`
fn deploy_args<'a>(service: &'a str, target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        service,
        "--target",
        target,
        "--health-interval",
        "50ms",
    ];
    args.extend_from_slice(extra);
    args
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTPS address a proxy logged at start.
pub fn https_addr(proxy: &ProxyProc) -> SocketAddr {
    let v: serde_json::Value = serde_json::from_str(
        proxy
            .startup
            .lines()
            .find(|l| l.contains("listening on"))
            .unwrap(),
    )
    .unwrap();
    v["https"]
        .as_str()
        .expect("https address logged")
        .parse()
        .unwrap()
}

/// TLS to `addr` with SNI `name`, trusting `roots`, offering `alpn`.
pub async fn connect(
    addr: SocketAddr,
    name: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
}

/// One GET through the proxy on a new connection: (status, body).
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    get_over(TcpStream::connect(addr).await.unwrap(), host, path).await
}

/// One HTTP/1.1 GET over `io` (a TCP or TLS stream): (status, body).
pub async fn get_over<S>(io: S, host: &str, path: &str) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    send_over(io, Request::get(path).header("host", host), Bytes::new()).await
}

/// One HTTP/1.1 POST of a JSON `body` over `io`: (status, body).
pub async fn post_over<S>(io: S, path: &str, body: &str) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let req = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json");
    send_over(io, req, Bytes::from(body.to_string())).await
}

async fn send_over<S>(io: S, req: hyper::http::request::Builder, body: Bytes) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub non_2xx: Vec<(u16, String)>,
    pub errors: Vec<String>,
    pub bodies: std::collections::BTreeMap<String, u64>,
}

/// `conns` keep-alive connections sending GETs until `stop` flips. Each connection is one
/// TCP connection for the whole run (a failed one is reported, then reopened).
pub fn load(
    addr: SocketAddr,
    host: &'static str,
    conns: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<LoadReport> {
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = LoadReport::default();
                'outer: while !stop.load(Ordering::SeqCst) {
                    let stream = match TcpStream::connect(addr).await {
                        Ok(s) => s,
                        Err(e) => {
                            r.errors.push(format!("connect: {e}"));
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let (mut sender, conn) =
                        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                            Ok(x) => x,
                            Err(e) => {
                                r.errors.push(format!("handshake: {e}"));
                                continue;
                            }
                        };
                    tokio::spawn(conn);
                    while !stop.load(Ordering::SeqCst) {
                        let req = Request::get("/")
                            .header("host", host)
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        let resp = match sender.send_request(req).await {
                            Ok(resp) => resp,
                            Err(e) => {
                                r.errors.push(format!("request: {e}"));
                                continue 'outer;
                            }
                        };
                        let status = resp.status().as_u16();
                        match resp.into_body().collect().await {
                            Ok(b) => {
                                let body = String::from_utf8_lossy(&b.to_bytes()).into_owned();
                                if (200..300).contains(&status) {
                                    r.ok += 1;
                                    *r.bodies.entry(body).or_default() += 1;
                                } else {
                                    r.non_2xx.push((status, body));
                                }
                            }
                            Err(e) => {
                                r.errors.push(format!("body: {e}"));
                                continue 'outer;
                            }
                        }
                    }
                }
                r
            }));
        }
        let mut all = LoadReport::default();
        for t in tasks {
            let r = t.await.unwrap();
            all.ok += r.ok;
            all.non_2xx.extend(r.non_2xx);
            all.errors.extend(r.errors);
            for (k, v) in r.bodies {
                *all.bodies.entry(k).or_default() += v;
            }
        }
        all
    })
}

/// Send raw bytes on a new connection and read until the proxy closes it (or `limit`):
/// the whole answer as text.
pub async fn raw(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in a raw answer.
pub fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped, so a failed assertion anywhere in the
/// test, which unwinds through it, leaves no proxy or port holder running behind it.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A request on `proxy`'s control socket with `body` (JSON text): (status, JSON answer; null
/// when the answer is not JSON).
pub async fn control_json(
    proxy: &ProxyProc,
    method: &str,
    path: &str,
    body: impl std::fmt::Display,
) -> (u16, serde_json::Value) {
    let io = tokio::net::UnixStream::connect(&proxy.control)
        .await
        .unwrap();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    let (status, text) = send_over(io, req, Bytes::from(body.to_string())).await;
    (status, serde_json::from_str(&text).unwrap_or_default())
}
