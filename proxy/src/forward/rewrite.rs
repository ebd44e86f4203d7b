//! What the general path changes in a request on its way to the target and in the response
//! on its way back, by the rules in `policy`: the URI (origin form, the service's prefix
//! stripped when asked), Host (the client's, from `:authority` over HTTP/2), X-Forwarded-*,
//! X-Real-IP and X-Request-Id by the sender's trust, and the hop-by-hop headers and the ones
//! `Connection` names, removed both ways (an allowed upgrade keeps its `Upgrade`).

use crate::policy::forwarded::{self as fwd, Trust};
use crate::policy::{self, HeaderClass};
use crate::upstream::Upstream;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::Request;
use std::net::SocketAddr;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static(policy::X_REQUEST_ID);
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static(policy::X_FORWARDED_FOR);
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static(policy::X_FORWARDED_PROTO);
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static(policy::X_FORWARDED_HOST);
const X_REAL_IP: HeaderName = HeaderName::from_static(policy::X_REAL_IP);

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
    let prefix = service.matched_prefix(uri.path());
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

/// Does the request ask to switch to a protocol the proxy passes on (`Connection: upgrade`
/// and an `Upgrade` that `upgrades` allows)? Any other upgrade is served as plain HTTP/1.1.
pub fn is_upgrade<B>(req: &Request<B>, upgrades: &policy::upgrade::Upgrades) -> bool {
    let h = req.headers();
    h.get_all(CONNECTION)
        .iter()
        .any(|v| policy::tokens(v.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"upgrade")))
        && h.get(UPGRADE).is_some_and(|u| upgrades.allow(u.as_bytes()))
}

/// Is the header `name` of `class` named by one of these Connection values?
fn named(connection: &[HeaderValue], name: &HeaderName, class: HeaderClass) -> bool {
    connection
        .iter()
        .any(|c| policy::names(c.as_bytes(), name.as_str().as_bytes(), class))
}

/// Remove every header `drop` says to (given its class and whether a Connection header names
/// it); the names are gathered only when there is one to remove.
fn remove_where(h: &mut HeaderMap, drop: impl Fn(&HeaderName, HeaderClass, bool) -> bool) {
    let connection: Vec<HeaderValue> = h.get_all(CONNECTION).iter().cloned().collect();
    let listed = connection
        .iter()
        .any(|c| policy::names_headers(c.as_bytes()));
    let mut gone: Vec<HeaderName> = Vec::new();
    for name in h.keys() {
        let class = policy::classify(name.as_str());
        if drop(name, class, listed && named(&connection, name, class)) {
            gone.push(name.clone());
        }
    }
    for name in gone {
        h.remove(name);
    }
}

/// A target's response carries no transfer coding but chunked (`policy`), one header at most.
pub fn response_coding_ok(h: &HeaderMap) -> bool {
    let mut te = h.get_all(hyper::header::TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (None, _) => true,
        (Some(v), None) => policy::response_coding_ok(v.as_bytes()),
        _ => false,
    }
}

/// Remove a response's hop-by-hop headers and the ones its Connection names.
pub fn strip_response(h: &mut HeaderMap) {
    remove_where(h, |_, class, named| {
        policy::replaced_in_response(class) || named
    });
}

/// Who sent a request and what the proxy says of it to the target.
pub struct Forwarding<'a> {
    pub peer: SocketAddr,
    /// The request's host (Host, or `:authority` over HTTP/2); empty when it has none.
    pub host: &'a HeaderValue,
    pub request_id: &'a HeaderValue,
    pub tls: bool,
    /// The peer is a trusted sender of forwarding headers (by `trust`).
    pub trusted: bool,
    pub trust: &'a Trust,
    /// The request upgrades to an allowed protocol: its Upgrade stays.
    pub upgrade: bool,
}

/// Rewrite a request's headers for the target: hop-by-hop ones, the ones Connection names
/// and forwarding headers the sender may not set are removed; Host, X-Forwarded-For/-Proto/
/// -Host, X-Real-IP and X-Request-Id set (`Connection: upgrade` again for an upgrade).
pub fn request_headers(h: &mut HeaderMap, f: Forwarding<'_>) {
    let ip = f.peer.ip().to_string();
    let connection: Vec<HeaderValue> = h.get_all(CONNECTION).iter().cloned().collect();
    let listed = connection
        .iter()
        .any(|c| policy::names_headers(c.as_bytes()));
    let xff_named = listed && named(&connection, &X_FORWARDED_FOR, HeaderClass::ForwardedFor);
    let chain: Vec<&[u8]> = match xff_named {
        true => Vec::new(),
        false => h
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(|v| v.as_bytes())
            .collect(),
    };
    let mut xff = Vec::with_capacity(ip.len() + chain.iter().map(|v| v.len() + 2).sum::<usize>());
    fwd::forwarded_for(f.trusted, chain.iter().copied(), &ip, &mut xff);
    let mut client = Vec::with_capacity(ip.len());
    fwd::client_address(f.trust, f.trusted, chain.iter().copied(), &ip, &mut client);
    drop(chain);
    remove_where(h, |_, class, named| {
        let upgrade_kept = f.upgrade && class == HeaderClass::Upgrade;
        (policy::replaced_in_request(class, f.trusted) || named) && !upgrade_kept
    });
    if f.upgrade {
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if !f.host.is_empty() {
        h.insert(HOST, f.host.clone());
    }
    for (name, value) in [(X_FORWARDED_FOR, xff), (X_REAL_IP, client)] {
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
            h.insert(name, v);
        }
    }
    if !fwd::keep_incoming_forwarded(f.trusted, h.contains_key(&X_FORWARDED_PROTO)) {
        let proto = fwd::forwarded_proto(f.tls);
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    let present = h.contains_key(&X_FORWARDED_HOST);
    if fwd::write_forwarded_host(f.trusted, present, f.host.as_bytes()) {
        h.insert(X_FORWARDED_HOST, f.host.clone());
    }
    h.insert(X_REQUEST_ID, f.request_id.clone());
}
