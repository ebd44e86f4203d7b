//! The general path's share of a service's traffic controls (`crate::traffic`): the redirect
//! to its canonical host, its rate limit (429 with `Retry-After`, counted per service) and its
//! own error pages in place of the proxy's plain-text 502/503/504 and maintenance page.

use super::reply::text;
use crate::body::{full, ProxyBody};
use crate::policy::{self, forwarded as fwd, HeaderClass};
use crate::proxy::Proxy;
use crate::router::Service;
use crate::traffic::rate::{retry_after_secs, Client, Verdict};
use crate::traffic::ServiceTraffic;
use dhow_proxy_api::RateKey;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Instant;

/// 301 to the service's canonical host, when the request named another of its hosts.
pub fn canonical_redirect(
    service: &Service,
    host: &str,
    tls: bool,
    uri: &hyper::Uri,
) -> Option<Response<ProxyBody>> {
    let t = &service.traffic;
    if !t.redirects(host) {
        return None;
    }
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = t.canonical_location(host, tls, pq);
    let mut r = text(
        StatusCode::MOVED_PERMANENTLY,
        &format!("moved to {location}"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert("location", v);
    }
    Some(r)
}

/// 429 when the client is over the service's rate limit (and the count of it).
pub fn rate_limited(
    proxy: &Proxy,
    service: &Service,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Option<Response<ProxyBody>> {
    let limiter = service.traffic.limiter.as_ref()?;
    let header = match &limiter.key {
        RateKey::Header(name) => headers.get(name.as_str()).map(HeaderValue::as_bytes),
        RateKey::Ip => None,
    };
    let verdict = match header {
        Some(value) => limiter.check(Client::Header(value), Instant::now()),
        // By address, or without the header: the client's address.
        None => {
            let ip = client_ip(proxy, headers, peer);
            limiter.check(Client::Ip(&ip), Instant::now())
        }
    };
    let Verdict::Limited(wait) = verdict else {
        return None;
    };
    service.stats.count_rate_limited();
    let secs = retry_after_secs(wait);
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many requests: try again in {secs} s"),
    );
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    Some(r)
}

/// The client's address as the proxy writes it in X-Real-IP: through the trusted proxies.
fn client_ip(proxy: &Proxy, headers: &HeaderMap, peer: SocketAddr) -> Vec<u8> {
    let ip = peer.ip().to_string();
    let trusted = proxy.rules.trust.trusts(peer.ip());
    // A chain the Connection header names is not passed on, so it does not count.
    let named = headers.get_all(CONNECTION).iter().any(|c| {
        policy::names(
            c.as_bytes(),
            policy::X_FORWARDED_FOR.as_bytes(),
            HeaderClass::ForwardedFor,
        )
    });
    let mut out = Vec::with_capacity(ip.len());
    let chain: Vec<&[u8]> = match named {
        true => Vec::new(),
        false => headers
            .get_all(policy::X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect(),
    };
    fwd::client_address(
        &proxy.rules.trust,
        trusted,
        chain.into_iter(),
        &ip,
        &mut out,
    );
    out
}

/// The service's own page for a plain-text error the proxy made (502, 503, 504), if it has
/// one; any other response as it is.
pub fn with_error_page(
    traffic: &ServiceTraffic,
    mut resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let plain = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    let Some(page) = traffic
        .pages
        .for_status(resp.status().as_u16())
        .filter(|_| plain)
    else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts
        .headers
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp = Response::from_parts(parts, full(page.clone()));
    resp
}
