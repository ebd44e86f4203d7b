//! The data plane: route a request, forward it to the service's target over pooled keep-alive
//! connections with bodies streamed both ways, pass upgrades (WebSocket) through, add
//! X-Forwarded-* and X-Request-Id, hold requests of a paused service, answer for a stopped
//! one, map failures to 400/404/413/502/503/504, log one JSON line and count it.

use crate::limits::{self, Capped, Limits, Refusal};
use crate::metrics::{self, InflightStat, Stats};
use crate::router::{InflightGuard, Mode, Table, Target};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;
/// Bodies sent to targets (a client's body may fail on the size limit).
pub type TargetBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;
pub type Client =
    hyper_util::client::legacy::Client<HttpConnector<crate::dns::Resolver>, TargetBody>;

/// A pooled HTTP/1.1 client for targets (no glibc resolver).
pub fn client() -> Client {
    let mut connector = HttpConnector::new_with_resolver(crate::dns::Resolver);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build(connector)
}

thread_local! {
    /// Each data-plane thread has its own pool of target connections, so a request and the
    /// target connection carrying it are served by the same thread (no cross-thread wake-ups).
    static LOCAL_CLIENT: Client = client();
}

/// Shared state of the data plane.
pub struct Proxy {
    pub table: ArcSwap<Table>,
    pub client: Client,
    pub limits: Limits,
    /// Keep incoming X-Forwarded-For/-Proto/-Host (the proxy is behind a trusted balancer).
    pub trust_forwarded: bool,
    pub log: bool,
    pub metrics: metrics::Global,
    /// Bumped on every table change; paused requests wait on it.
    changed: watch::Sender<u64>,
    /// The HTTPS port clients use (set when the proxy listens for HTTPS); plain-HTTP requests
    /// to a service with a certificate are redirected there.
    pub https_port: std::sync::OnceLock<u16>,
    /// Automatic certificates: obtained ones and open challenges.
    pub acme: Arc<crate::acme::Acme>,
    /// Request ids are `<pid>-<counter>` in hex; the pid is read once (getpid is a syscall).
    id_prefix: String,
    next_id: AtomicU64,
}

impl Proxy {
    pub fn new(table: Table, log: bool) -> Arc<Proxy> {
        Proxy::with_limits(table, log, Limits::default(), false)
    }

    pub fn with_limits(
        table: Table,
        log: bool,
        limits: Limits,
        trust_forwarded: bool,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            table: ArcSwap::from_pointee(table),
            client: client(),
            limits,
            trust_forwarded,
            log,
            metrics: metrics::Global::default(),
            changed: watch::channel(0).0,
            https_port: std::sync::OnceLock::new(),
            acme: Arc::default(),
            id_prefix: format!("{:x}", std::process::id()),
            next_id: AtomicU64::new(1),
        })
    }

    /// Swap in a new routing table and wake requests waiting on a paused service.
    pub fn publish(&self, table: Table) {
        self.table.store(Arc::new(table));
        self.changed.send_modify(|n| *n += 1);
    }

    fn request_id(&self) -> HeaderValue {
        let mut id = String::new();
        self.write_request_id(&mut id);
        HeaderValue::from_maybe_shared(Bytes::from(id)).unwrap_or(HeaderValue::from_static("-"))
    }

    /// Append a new request id (`<pid>-<counter>`, hex) to `into`.
    pub fn write_request_id(&self, into: &mut String) {
        use std::fmt::Write;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = write!(into, "{}-{n:x}", self.id_prefix);
    }
}

fn text(status: StatusCode, msg: &str) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("{msg}\n")))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page a stopped service answers with.
fn maintenance(message: Option<&str>) -> Response<ProxyBody> {
    let msg = html_escape(message.unwrap_or("This service is down for maintenance."));
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Maintenance</title></head>\
         <body><h1>Maintenance</h1><p>{msg}</p></body></html>\n"
    );
    let mut r = Response::new(Full::new(Bytes::from(page)).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("retry-after", HeaderValue::from_static("60"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

/// `example.com:8080` -> `example.com`; `[::1]:8080` -> `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.split_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// 308 to the same host and path on HTTPS.
fn redirect_to_https(host: &str, port: u16, uri: &hyper::Uri) -> Response<ProxyBody> {
    let name = strip_port(host);
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{name}{port}{pq}");
    let mut r = text(
        StatusCode::PERMANENT_REDIRECT,
        &format!("moved to {location}"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert("location", v);
    }
    r
}

/// Why connecting to a target failed, in a few words.
pub fn connect_reason(e: &hyper_util::client::legacy::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

/// One request's log line.
pub struct Logged<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub started: Instant,
    pub target: &'a str,
    pub id: &'a str,
}

/// Print one JSON line for a finished request (both HTTP paths log through here).
pub fn log_request(r: &Logged<'_>) {
    let line = serde_json::json!({
        "method": r.method, "host": r.host, "path": r.path,
        "status": r.status, "bytes": r.bytes,
        "duration_ms": r.started.elapsed().as_secs_f64() * 1000.0,
        "target": r.target,
        "request_id": r.id,
    });
    println!("{line}");
}

/// What the request log line and the metrics need, written once the response is done.
/// Its fields share the request's own buffers (no copies on the request path).
struct Done {
    proxy: Arc<Proxy>,
    stats: Arc<Stats>,
    method: hyper::Method,
    host: HeaderValue,
    uri: hyper::Uri,
    status: StatusCode,
    started: Instant,
    target: Option<Arc<Target>>,
    id: HeaderValue,
}

impl Done {
    fn host(&self) -> &str {
        self.host.to_str().unwrap_or("")
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn finish(self, bytes: u64) {
        self.stats
            .observe(self.status.as_u16(), self.started.elapsed());
        if !self.proxy.log {
            return;
        }
        log_request(&Logged {
            method: self.method.as_str(),
            host: self.host(),
            path: self.path(),
            status: self.status.as_u16(),
            bytes,
            started: self.started,
            target: self.target.as_ref().map_or("-", |t| t.addr.as_str()),
            id: self.id.to_str().unwrap_or("-"),
        });
    }

    /// Finish now with a response the proxy made itself.
    fn answer(mut self, resp: Response<ProxyBody>) -> Response<ProxyBody> {
        self.status = resp.status();
        let bytes = resp.body().size_hint().exact().unwrap_or(0);
        self.finish(bytes);
        resp
    }
}

/// Handle one client request.
pub async fn handle(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    tls: bool,
    verdicts: crate::framing::Verdicts,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, hyper::Error> {
    let started = Instant::now();
    // What the framing observer saw in this request's head (hyper hides CL+TE conflicts).
    let framing = verdicts
        .lock()
        .ok()
        .and_then(|mut q| q.pop_front())
        .flatten();
    let host = req
        .headers()
        .get(HOST)
        .filter(|h| h.to_str().is_ok())
        .cloned()
        .or_else(|| req.uri().host().and_then(|h| HeaderValue::from_str(h).ok()))
        .unwrap_or(HeaderValue::from_static(""));
    let request_id = match req.headers().get(X_REQUEST_ID) {
        Some(id) if !id.is_empty() && id.len() <= 200 && id.to_str().is_ok() => id.clone(),
        _ => proxy.request_id(),
    };
    let mut done = Done {
        proxy: proxy.clone(),
        stats: proxy.metrics.unrouted.clone(),
        method: req.method().clone(),
        host,
        uri: req.uri().clone(),
        status: StatusCode::OK,
        started,
        target: None,
        id: request_id,
    };
    let checked = match framing {
        Some(why) => Err(Refusal::Ambiguous(why)),
        None => limits::check(req.headers(), &proxy.limits),
    };
    if req.method() == hyper::Method::CONNECT {
        let resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not proxied here",
        );
        return Ok(done.answer(resp));
    }
    if let Err(refusal) = checked {
        let mut resp = match refusal {
            Refusal::Ambiguous(why) => {
                text(StatusCode::BAD_REQUEST, &format!("bad request: {why}"))
            }
            Refusal::TooLarge(n) => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "request body of {n} bytes is over the limit of {} bytes",
                    proxy.limits.max_body_bytes
                ),
            ),
        };
        // The rest of this connection's bytes cannot be trusted to frame a next request.
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        return Ok(done.answer(resp));
    }

    // An ACME server validating a certificate order (HTTP-01) gets its answer before routing.
    if !tls {
        if let Some(token) = done
            .path()
            .strip_prefix(crate::acme::challenges::HTTP_PREFIX)
        {
            if let Some(answer) = proxy.acme.challenges.http(token) {
                let mut resp = Response::new(
                    Full::new(Bytes::from(answer))
                        .map_err(|e| match e {})
                        .boxed(),
                );
                resp.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static("application/octet-stream"),
                );
                return Ok(done.answer(resp));
            }
        }
    }

    // Route; a paused service holds the request until it is resumed (or the pause times out).
    let deadline = tokio::time::Instant::now() + proxy.limits.pause_timeout;
    let table = loop {
        let mut changed = proxy.changed.subscribe();
        let table = proxy.table.load_full();
        let paused = table
            .route(done.host(), done.path())
            .is_some_and(|s| s.mode == Mode::Paused);
        if !paused {
            break table;
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            let resp = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is paused; try again shortly",
            );
            return Ok(done.answer(resp));
        }
    };
    let Some(service) = table.route(done.host(), done.path()) else {
        let resp = text(
            StatusCode::NOT_FOUND,
            "no service is routed for this host and path",
        );
        return Ok(done.answer(resp));
    };
    done.stats = service.stats.clone();
    let inflight_stat = service.stats.start();
    if let Mode::Stopped { message } = &service.mode {
        let resp = if done.path() == service.health.path {
            text(StatusCode::OK, "OK (the service is in maintenance)")
        } else {
            maintenance(message.as_deref())
        };
        return Ok(done.answer(resp));
    }
    let has_cert = service.tls.is_some() || (service.acme && proxy.acme.certs.has(done.host()));
    if !tls && has_cert && service.tls_redirect && done.path() != service.health.path {
        if let Some(port) = proxy.https_port.get() {
            let resp = redirect_to_https(done.host(), *port, req.uri());
            return Ok(done.answer(resp));
        }
    }
    let target = service.target.clone();
    done.target = Some(target.clone());
    if !target.wait_ready(Duration::from_secs(30)).await {
        let resp = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service's target is not healthy yet",
        );
        return Ok(done.answer(resp));
    }
    let guard = target.enter();

    // Rewrite the URI to the target, stripping the prefix when asked.
    let uri = match target_uri(req.uri(), &target, service) {
        Ok(u) => u,
        Err(why) => return Ok(done.answer(text(StatusCode::BAD_REQUEST, why))),
    };
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    forwarded_headers(
        &mut parts.headers,
        peer,
        &done.host,
        &done.id,
        tls,
        proxy.trust_forwarded,
    );
    if !upgrade {
        strip_hop_by_hop(&mut parts.headers);
    }
    let capped = Capped::new(body, proxy.limits.max_body_bytes);
    let tripped = capped.tripped.clone();
    let malformed = capped.malformed.clone();
    let out_req = Request::from_parts(parts, capped.boxed());

    let result = tokio::time::timeout(
        proxy.limits.response_timeout,
        LOCAL_CLIENT.with(|c| c.request(out_req)),
    )
    .await;
    let resp = match result {
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the target did not answer in time",
        ),
        Ok(Err(_)) if tripped.load(Ordering::SeqCst) => {
            let mut r = text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "request body is over the limit of {} bytes",
                    proxy.limits.max_body_bytes
                ),
            );
            r.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            r
        }
        Ok(Err(_)) if malformed.load(Ordering::SeqCst) => {
            let mut r = text(
                StatusCode::BAD_REQUEST,
                "bad request: the request body is malformed",
            );
            r.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            r
        }
        Ok(Err(e)) => text(
            StatusCode::BAD_GATEWAY,
            &format!("the target is unreachable: {}", connect_reason(&e)),
        ),
        Ok(Ok(mut resp)) => {
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                if let Some(client_side) = client_upgrade {
                    let target_side = hyper::upgrade::on(&mut resp);
                    let closing = target.closing();
                    tokio::spawn(tunnel(client_side, target_side, guard, closing));
                    let (parts, _) = resp.into_parts();
                    let r = Response::from_parts(
                        parts,
                        Full::new(Bytes::new()).map_err(|e| match e {}).boxed(),
                    );
                    return Ok(done.answer(r));
                }
            }
            let (mut parts, body) = resp.into_parts();
            if !upgrade {
                strip_hop_by_hop(&mut parts.headers);
            }
            parts.headers.insert(X_REQUEST_ID, done.id.clone());
            done.status = parts.status;
            let body = Guarded {
                inner: body,
                _guard: guard,
                _inflight: inflight_stat,
                bytes: 0,
                done: Some(done),
            }
            .boxed();
            return Ok(Response::from_parts(parts, body));
        }
    };
    Ok(done.answer(resp))
}

/// `http://<target><path>`, the path's prefix stripped when the service asks; the path and
/// query are shared with the request, not copied, when nothing is stripped.
fn target_uri(
    uri: &hyper::Uri,
    target: &Target,
    service: &crate::router::Service,
) -> Result<hyper::Uri, &'static str> {
    use hyper::http::uri::{PathAndQuery, Scheme};
    let mut pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or(PathAndQuery::from_static("/"));
    if let (true, Some(p)) = (service.strip_prefix, &service.path_prefix) {
        if let Some(rest) = pq.as_str().strip_prefix(p.trim_end_matches('/')) {
            let stripped = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            };
            pq = stripped.parse().map_err(|_| "bad request target")?;
        }
    }
    // Only origin-form targets (`/path`) reach a target; `*` and others are refused.
    if !pq.as_str().starts_with('/') {
        return Err("bad request: the request target must be a path starting with /");
    }
    let mut parts = hyper::http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(target.authority.clone().ok_or("bad target address")?);
    parts.path_and_query = Some(pq);
    hyper::Uri::from_parts(parts).map_err(|_| "bad request target")
}

async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    target: hyper::upgrade::OnUpgrade,
    guard: InflightGuard,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let (Ok(c), Ok(t)) = (client.await, target.await) else {
        return;
    };
    let (mut c, mut t) = (TokioIo::new(c), TokioIo::new(t));
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut c, &mut t) => {}
        _ = async { let _ = closing.wait_for(|c| *c).await; } => {}
    }
    drop(guard);
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        && req.headers().contains_key(hyper::header::UPGRADE)
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const HOP_BY_HOP: [HeaderName; 7] = [
    hyper::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    hyper::header::TE,
    hyper::header::TRAILER,
    hyper::header::UPGRADE,
    hyper::header::TRANSFER_ENCODING,
];

fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

fn forwarded_headers(
    h: &mut hyper::HeaderMap,
    peer: SocketAddr,
    host: &HeaderValue,
    request_id: &HeaderValue,
    tls: bool,
    trust: bool,
) {
    // Incoming X-Forwarded-* are kept only when the proxy is told it sits behind a trusted
    // balancer; otherwise the proxy is the edge and a client could forge them.
    let ip = peer.ip().to_string();
    let chain = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if trust && !prev.is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(chain)) {
        h.insert(X_FORWARDED_FOR, v);
    }
    if !(trust && h.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if tls { "https" } else { "http" };
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    let keep_incoming = trust && h.contains_key(&X_FORWARDED_HOST);
    if !keep_incoming && !host.is_empty() {
        h.insert(X_FORWARDED_HOST, host.clone());
    }
    h.insert(X_REQUEST_ID, request_id.clone());
}

/// A response body that keeps its target's in-flight count until it is fully sent, counts
/// its bytes, and logs the request when it is done (or the client went away).
struct Guarded<B> {
    inner: B,
    _guard: InflightGuard,
    _inflight: InflightStat,
    bytes: u64,
    done: Option<Done>,
}

impl<B> Drop for Guarded<B> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.finish(self.bytes);
        }
    }
}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin> Body for Guarded<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
