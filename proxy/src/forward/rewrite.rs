//! What the general path changes in a request on its way to the target and in the response
//! on its way back, by the rules in `policy`: the URI (origin form, the service's prefix
//! stripped when asked), X-Forwarded-* and X-Request-Id, and the hop-by-hop headers.

use crate::policy;
use crate::upstream::Upstream;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Request;
use std::net::SocketAddr;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static(policy::X_REQUEST_ID);
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static(policy::X_FORWARDED_FOR);
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static(policy::X_FORWARDED_PROTO);
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static(policy::X_FORWARDED_HOST);
const HOP_BY_HOP: [HeaderName; 7] = {
    let n = policy::HOP_BY_HOP;
    [
        HeaderName::from_static(n[0]),
        HeaderName::from_static(n[1]),
        HeaderName::from_static(n[2]),
        HeaderName::from_static(n[3]),
        HeaderName::from_static(n[4]),
        HeaderName::from_static(n[5]),
        HeaderName::from_static(n[6]),
    ]
};

/// `http://<target><path>`, the path's prefix stripped when the service asks; the path and
/// query are shared with the request, not copied, when nothing is stripped.
pub fn target_uri(
    uri: &hyper::Uri,
    target: &Upstream,
    service: &crate::router::Service,
) -> Result<hyper::Uri, &'static str> {
    use hyper::http::uri::{PathAndQuery, Scheme};
    let mut pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or(PathAndQuery::from_static("/"));
    let prefix = service.path_prefix.as_deref();
    if let Some(stripped) = policy::strip_prefix(pq.as_str(), prefix, service.strip_prefix) {
        pq = stripped
            .to_string()
            .parse()
            .map_err(|_| "bad request target")?;
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

/// Does the request ask to switch protocols (`Connection: upgrade` and an `Upgrade`)?
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        && req.headers().contains_key(hyper::header::UPGRADE)
}

/// Remove the hop-by-hop headers.
pub fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

/// Set X-Forwarded-For/-Proto/-Host and X-Request-Id on a request to a target.
pub fn forwarded_headers(
    h: &mut hyper::HeaderMap,
    peer: SocketAddr,
    host: &HeaderValue,
    request_id: &HeaderValue,
    tls: bool,
    trust: bool,
) {
    let ip = peer.ip().to_string();
    let incoming = h
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .map(str::as_bytes);
    let mut chain = Vec::with_capacity(ip.len() + incoming.map_or(0, |p| p.len() + 2));
    policy::forwarded_for(trust, incoming, &ip, &mut chain);
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(chain)) {
        h.insert(X_FORWARDED_FOR, v);
    }
    if !policy::keep_incoming_forwarded(trust, h.contains_key(&X_FORWARDED_PROTO)) {
        let proto = policy::forwarded_proto(tls);
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    let present = h.contains_key(&X_FORWARDED_HOST);
    if policy::write_forwarded_host(trust, present, host.as_bytes()) {
        h.insert(X_FORWARDED_HOST, host.clone());
    }
    h.insert(X_REQUEST_ID, request_id.clone());
}
