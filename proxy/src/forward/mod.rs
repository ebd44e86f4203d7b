//! The general (hyper) data path: route a request, forward it to the service's target over
//! pooled keep-alive connections with bodies streamed both ways, pass upgrades (WebSocket)
//! through (only the protocols `policy` allows), set Host, X-Forwarded-*, X-Real-IP and
//! X-Request-Id (by `policy`), hold requests of a paused service, answer for a stopped one,
//! refuse what `policy` refuses (a missing or second Host: 400, a transfer coding: 501, a
//! target's transfer coding: 502), map failures to 400/404/413/502/503/504, apply the
//! service's traffic controls (`traffic.rs`: canonical host, rate limit, error pages), log
//! one JSON line and count it. `handle` reads as the request's steps; each is a function below.

pub mod finish;
pub mod reply;
pub mod rewrite;
pub mod side;
pub mod traffic;

use crate::body::{full, ProxyBody, TargetBody};
use crate::framing::Verdicts;
use crate::limits::{self, Capped, Refusal};
use crate::proxy::Proxy;
use crate::router::{Service, ServiceMode, Table};
use crate::stats::InflightStat;
use crate::upstream::{InflightGuard, Upstream};
use crate::upstream_client::{self, UpstreamResult};
use finish::{Done, Guarded};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use reply::text;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handle one client request.
pub async fn handle(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    tls: bool,
    verdicts: Verdicts,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, hyper::Error> {
    let started = Instant::now();
    let framing = framing_verdict(&verdicts);
    let mut done = Done::start(&proxy, &req, started);
    if let Some(resp) = refusal(&proxy, &req, framing) {
        return Ok(done.answer(resp));
    }
    if let Some(resp) = acme_challenge(&proxy, tls, done.path()) {
        return Ok(done.answer(resp));
    }
    let table = match wait_while_paused(&proxy, &done).await {
        Ok(table) => table,
        Err(resp) => {
            // Paused too long: the service's own 503 page, if it has one.
            let table = proxy.table.load();
            let service = table.route(done.host(), done.path());
            done.pages = service
                .filter(|s| s.traffic.pages.any())
                .map(|s| s.traffic.clone());
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
    if service.traffic.pages.any() {
        done.pages = Some(service.traffic.clone());
    }
    let inflight = service.stats.start();
    if let Some(resp) = service_answers(&proxy, service, tls, &done, req.uri()) {
        return Ok(done.answer(resp));
    }
    if let Some(resp) = traffic::rate_limited(&proxy, service, req.headers(), peer) {
        return Ok(done.answer(resp));
    }
    let routed = side::route(service, req.headers(), tls);
    let target = routed.target.clone();
    let replicas = routed.replicas;
    (done.side, done.set_cookie) = (routed.side, routed.set_cookie);
    done.target = Some(target.clone());
    if !routed.ready && !target.wait_ready(Duration::from_secs(30)).await {
        let resp = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service's target is not healthy yet",
        );
        return Ok(done.answer(resp));
    }
    let limits = service.limits.effective(&proxy.limits);
    if let Some(resp) = crate::buffering::declared_too_large(req.headers(), &limits) {
        return Ok(done.answer(resp));
    }
    let guard = target.enter();
    let mut outgoing = match to_target(req, &target, service, peer, tls, &proxy, &done) {
        Ok(o) => o,
        Err(why) => return Ok(done.answer(text(StatusCode::BAD_REQUEST, why))),
    };
    if limits.buffer_requests && outgoing.sent.client_upgrade.is_none() {
        let flags = (&*outgoing.sent.tripped, &*outgoing.sent.malformed);
        let idle = proxy.limits.header_timeout;
        match crate::buffering::whole_request(outgoing.request, &limits, idle, flags).await {
            Ok(r) => outgoing.request = r,
            Err(resp) => return Ok(done.answer(resp)),
        }
    }
    let result = tokio::time::timeout(
        limits.response_timeout,
        upstream_client::request_here(outgoing.request),
    )
    .await;
    if let (Ok(Err(e)), Some(_)) = (&result, replicas) {
        // One of several targets refused the connection: out of balancing until its health
        // check passes again (this path does not send the request elsewhere: its body is
        // consumed; the fast path does, for requests that never reached the target).
        if e.is_connect() && target.set_down(true) {
            tracing::warn!(target = %target.addr, "target unreachable: taken out");
        }
    }
    let held = Held {
        target: &target,
        guard,
        inflight,
    };
    let result = match (result, limits.buffer_responses) {
        (Ok(Ok(resp)), Some(cap)) if resp.status() != StatusCode::SWITCHING_PROTOCOLS => {
            let idle = limits.response_timeout;
            return Ok(
                match crate::buffering::whole_response(resp, cap, idle).await {
                    Ok(resp) => pass_response(resp, outgoing.sent, held, done),
                    Err(resp) => done.answer(resp),
                },
            );
        }
        (result, _) => result,
    };
    Ok(respond(result, outgoing.sent, held, done))
}

/// What the framing observer saw in this request's head (hyper hides CL+TE conflicts).
fn framing_verdict(verdicts: &Verdicts) -> Option<&'static str> {
    verdicts
        .lock()
        .ok()
        .and_then(|mut q| q.pop_front())
        .flatten()
}

/// A request the proxy refuses before routing: CONNECT, an ambiguous framing, no Host or two
/// (RFC 9112 3.2), a transfer coding other than chunked, headers or a body over the limits
/// (the connection closes after all but the first).
fn refusal(
    proxy: &Proxy,
    req: &Request<Incoming>,
    framing: Option<&'static str>,
) -> Option<Response<ProxyBody>> {
    use hyper::header::{HOST, TRANSFER_ENCODING};
    let hosts = req.headers().get_all(HOST).iter().count();
    let http11 = req.version() == hyper::Version::HTTP_11;
    if framing.is_none() && !crate::policy::host::count_ok(http11, hosts) {
        return Some(reply::text_and_close(
            StatusCode::BAD_REQUEST,
            "bad request: an HTTP/1.1 request needs exactly one Host header",
        ));
    }
    let mut codings = req.headers().get_all(TRANSFER_ENCODING).iter();
    let coded = match (codings.next(), codings.next()) {
        (Some(te), None) => !crate::policy::request_coding_ok(te.as_bytes()),
        (_, more) => more.is_some(),
    };
    if framing.is_none() && coded {
        return Some(reply::text_and_close(
            StatusCode::NOT_IMPLEMENTED,
            "the proxy carries no transfer coding but chunked",
        ));
    }
    let checked = match framing {
        Some(why) => Err(Refusal::Ambiguous(why)),
        // Sizes are checked once the service (and its limit) is known.
        None => limits::check(req.headers(), 0),
    };
    if req.method() == hyper::Method::CONNECT {
        return Some(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not proxied here",
        ));
    }
    // The rest of this connection's bytes cannot be trusted to frame a next request.
    match checked.err()? {
        Refusal::Ambiguous(why) => Some(reply::text_and_close(
            StatusCode::BAD_REQUEST,
            &format!("bad request: {why}"),
        )),
        Refusal::TooLarge(n) => Some(reply::text_and_close(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "request body of {n} bytes is over the limit of {} bytes",
                proxy.limits.max_body_bytes
            ),
        )),
    }
}

/// An ACME server validating a certificate order (HTTP-01) gets its answer before routing.
fn acme_challenge(proxy: &Proxy, tls: bool, path: &str) -> Option<Response<ProxyBody>> {
    if tls {
        return None;
    }
    let token = path.strip_prefix(crate::acme::challenges::HTTP_PREFIX)?;
    proxy.acme.challenges.http(token).map(reply::acme_answer)
}

/// The current table, once the request's service is not paused; a paused service holds the
/// request until it is resumed, or answers 503 when the pause times out.
async fn wait_while_paused(proxy: &Proxy, done: &Done) -> Result<Arc<Table>, Response<ProxyBody>> {
    let deadline = tokio::time::Instant::now() + proxy.limits.pause_timeout;
    loop {
        let mut changed = proxy.table_changes();
        let table = proxy.table.load_full();
        let paused = table
            .route(done.host(), done.path())
            .is_some_and(|s| s.mode == ServiceMode::Paused);
        if !paused {
            return Ok(table);
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is paused; try again shortly",
            ));
        }
    }
}

/// What a routed service answers without its target: the redirect to its canonical host, the
/// maintenance page of a stopped service (its health path still says OK), or the redirect of
/// plain HTTP to HTTPS.
fn service_answers(
    proxy: &Proxy,
    service: &Service,
    tls: bool,
    done: &Done,
    uri: &hyper::Uri,
) -> Option<Response<ProxyBody>> {
    if let Some(resp) = traffic::canonical_redirect(service, done.host(), tls, uri) {
        return Some(resp);
    }
    if let ServiceMode::Stopped { message } = &service.mode {
        return Some(if done.path() == service.health.path {
            text(StatusCode::OK, "OK (the service is in maintenance)")
        } else {
            let own = service.traffic.pages.maintenance(message.as_deref());
            reply::maintenance(message.as_deref(), own)
        });
    }
    let has_cert = service.tls.is_some()
        || (service.acme && proxy.acme.certs.has(&crate::policy::host::key(done.host())));
    if !tls && has_cert && service.tls_redirect && done.path() != service.health.path {
        if let Some(port) = proxy.https_port.get() {
            return Some(reply::redirect_to_https(done.host(), *port, uri));
        }
    }
    None
}

/// The request for the target, and what the response step needs to know of it.
struct Outgoing {
    request: Request<TargetBody>,
    sent: Sent,
}

/// How the request went: the client side of an upgrade it asked, body limits tripped.
struct Sent {
    /// The request body's size limit (0 = none).
    limit: u64,
    client_upgrade: Option<OnUpgrade>,
    tripped: Arc<AtomicBool>,
    malformed: Arc<AtomicBool>,
}

/// Rewrite the request for the target: its URI (the prefix stripped when asked), HTTP/1.1,
/// its headers by `rewrite::request_headers`, the body capped at the size limit.
fn to_target(
    mut req: Request<Incoming>,
    target: &Upstream,
    service: &Service,
    peer: SocketAddr,
    tls: bool,
    proxy: &Proxy,
    done: &Done,
) -> Result<Outgoing, &'static str> {
    let uri = rewrite::target_uri(req.uri(), target, service)?;
    let upgrade = rewrite::is_upgrade(&req, &proxy.rules.upgrades);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    let forwarding = rewrite::Forwarding {
        peer,
        host: &done.host,
        request_id: &done.id,
        tls,
        trusted: proxy.rules.trust.trusts(peer.ip()),
        trust: &proxy.rules.trust,
        upgrade,
    };
    rewrite::request_headers(&mut parts.headers, forwarding);
    let limit = service.limits.effective(&proxy.limits).max_request_body;
    let capped = Capped::new(body, limit);
    let sent = Sent {
        limit,
        client_upgrade,
        tripped: capped.tripped.clone(),
        malformed: capped.malformed.clone(),
    };
    Ok(Outgoing {
        request: Request::from_parts(parts, capped.boxed()),
        sent,
    })
}

/// What a forwarded request holds until its response is done.
struct Held<'a> {
    target: &'a Arc<Upstream>,
    guard: InflightGuard,
    inflight: InflightStat,
}

/// The client's response: the target's (streamed, or its upgrade tunnelled), or the proxy's
/// answer to a timeout (504), a body over the limit (413), a malformed body (400) or an
/// unreachable target (502).
fn respond(
    result: Result<UpstreamResult, tokio::time::error::Elapsed>,
    sent: Sent,
    held: Held<'_>,
    done: Done,
) -> Response<ProxyBody> {
    let resp = match result {
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the target did not answer in time",
        ),
        Ok(Err(_)) if sent.tripped.load(Ordering::SeqCst) => reply::text_and_close(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is over the limit of {} bytes", sent.limit),
        ),
        Ok(Err(_)) if sent.malformed.load(Ordering::SeqCst) => reply::text_and_close(
            StatusCode::BAD_REQUEST,
            "bad request: the request body is malformed",
        ),
        Ok(Err(e)) => text(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the target is unreachable: {}",
                upstream_client::connect_reason(&e)
            ),
        ),
        Ok(Ok(resp)) => return pass_response(resp, sent, held, done),
    };
    done.answer(resp)
}

/// Pass the target's response on: a switch of protocols becomes a tunnel between the two
/// upgraded connections; any other response streams its body, counted until it ends.
fn pass_response<B>(
    mut resp: Response<B>,
    sent: Sent,
    held: Held<'_>,
    mut done: Done,
) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = bytes::Bytes, Error = hyper::Error> + Unpin + Send + Sync + 'static,
{
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = sent.client_upgrade {
            let target_side = hyper::upgrade::on(&mut resp);
            let closing = held.target.closing();
            tokio::spawn(tunnel(client_side, target_side, held.guard, closing));
            let (parts, _) = resp.into_parts();
            return done.answer(Response::from_parts(parts, full(bytes::Bytes::new())));
        }
        // As on the fast path: a switch nobody asked for (or the proxy did not pass on).
        let why = "the target switched protocols without being asked to";
        return done.answer(text(StatusCode::BAD_GATEWAY, why));
    }
    if !rewrite::response_coding_ok(resp.headers()) {
        let why = "the target sent a transfer coding other than chunked, which the proxy does not pass on";
        return done.answer(text(StatusCode::BAD_GATEWAY, why));
    }
    let (mut parts, body) = resp.into_parts();
    // The proxy answers in its own HTTP version (RFC 9110 6.2), not the target's: an
    // HTTP/1.0 target must not make hyper close the client's keep-alive connection.
    parts.version = hyper::Version::HTTP_11;
    rewrite::strip_response(&mut parts.headers);
    parts.headers.insert(rewrite::X_REQUEST_ID, done.id.clone());
    if let Some(c) = done.set_cookie.take() {
        parts.headers.append(hyper::header::SET_COOKIE, c);
    }
    done.status = parts.status;
    let body = Guarded::new(body, held.guard, held.inflight, done).boxed();
    Response::from_parts(parts, body)
}

/// Copy bytes both ways between an upgraded client and target until either ends or the
/// target is told to close its upgraded connections.
async fn tunnel(
    client: OnUpgrade,
    target: OnUpgrade,
    guard: InflightGuard,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::TokioIo;
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
