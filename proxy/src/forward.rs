//! The data plane: route a request, forward it to the service's target over pooled keep-alive
//! connections with bodies streamed both ways, pass upgrades (WebSocket) through, add
//! X-Forwarded-* and X-Request-Id, map failures to 404/502/504, log one JSON line.

use crate::router::{InflightGuard, Table};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;
pub type Client =
    hyper_util::client::legacy::Client<HttpConnector<crate::dns::Resolver>, ProxyBody>;

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

/// Shared state of the data plane.
pub struct Proxy {
    pub table: ArcSwap<Table>,
    pub client: Client,
    pub response_timeout: Duration,
    pub log: bool,
    next_id: AtomicU64,
}

impl Proxy {
    pub fn new(table: Table, log: bool) -> Arc<Proxy> {
        Arc::new(Proxy {
            table: ArcSwap::from_pointee(table),
            client: client(),
            response_timeout: Duration::from_secs(60),
            log,
            next_id: AtomicU64::new(1),
        })
    }

    fn request_id(&self) -> String {
        format!(
            "{:x}-{:x}",
            std::process::id(),
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
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

/// Handle one client request.
pub async fn handle(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, hyper::Error> {
    let started = Instant::now();
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().host().map(str::to_string))
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let request_id = match req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => proxy.request_id(),
    };
    let table = proxy.table.load_full();
    let Some(service) = table.route(&host, &path) else {
        let resp = text(
            StatusCode::NOT_FOUND,
            "no service is routed for this host and path",
        );
        log(
            &proxy,
            &method,
            &host,
            &path,
            resp.status(),
            started,
            "-",
            &request_id,
        );
        return Ok(resp);
    };
    let target = service.target.clone();
    if !target.wait_ready(Duration::from_secs(30)).await {
        let resp = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service's target is not healthy yet",
        );
        log(
            &proxy,
            &method,
            &host,
            &path,
            resp.status(),
            started,
            &target.addr,
            &request_id,
        );
        return Ok(resp);
    }
    let guard = target.enter();

    // Rewrite the URI to the target, stripping the prefix when asked.
    let mut pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    if service.strip_prefix {
        if let Some(p) = &service.path_prefix {
            let p = p.trim_end_matches('/');
            if let Some(rest) = pq.strip_prefix(p) {
                pq = if rest.starts_with('/') {
                    rest.to_string()
                } else {
                    format!("/{rest}")
                };
            }
        }
    }
    let uri = match format!("http://{}{pq}", target.addr).parse() {
        Ok(u) => u,
        Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "bad request target")),
    };
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    forwarded_headers(&mut parts.headers, peer, &host, &request_id);
    if !upgrade {
        strip_hop_by_hop(&mut parts.headers);
    }
    let out_req = Request::from_parts(parts, body.boxed());

    let result = tokio::time::timeout(proxy.response_timeout, proxy.client.request(out_req)).await;
    let resp = match result {
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the target did not answer in time",
        ),
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
                    log(
                        &proxy,
                        &method,
                        &host,
                        &path,
                        r.status(),
                        started,
                        &target.addr,
                        &request_id,
                    );
                    return Ok(r);
                }
            }
            let (mut parts, body) = resp.into_parts();
            if !upgrade {
                strip_hop_by_hop(&mut parts.headers);
            }
            parts.headers.insert(
                "x-request-id",
                HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-")),
            );
            let body = Guarded {
                inner: body,
                _guard: guard,
            }
            .boxed();
            Response::from_parts(parts, body)
        }
    };
    log(
        &proxy,
        &method,
        &host,
        &path,
        resp.status(),
        started,
        &target.addr,
        &request_id,
    );
    Ok(resp)
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

fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
    ] {
        h.remove(name);
    }
}

fn forwarded_headers(h: &mut hyper::HeaderMap, peer: SocketAddr, host: &str, request_id: &str) {
    // Incoming X-Forwarded-* are not trusted: the proxy is the edge.
    let ip = peer.ip().to_string();
    if let Ok(v) = HeaderValue::from_str(&ip) {
        h.insert("x-forwarded-for", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert("x-forwarded-host", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
}

#[allow(clippy::too_many_arguments)]
fn log(
    proxy: &Proxy,
    method: &hyper::Method,
    host: &str,
    path: &str,
    status: StatusCode,
    started: Instant,
    target: &str,
    id: &str,
) {
    if !proxy.log {
        return;
    }
    let line = serde_json::json!({
        "method": method.as_str(), "host": host, "path": path, "status": status.as_u16(),
        "duration_ms": started.elapsed().as_secs_f64() * 1000.0, "target": target, "request_id": id,
    });
    println!("{line}");
}

/// A response body that keeps its target's in-flight count until it is fully sent.
struct Guarded<B> {
    inner: B,
    _guard: InflightGuard,
}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin> Body for Guarded<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
