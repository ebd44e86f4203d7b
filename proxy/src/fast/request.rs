//! The fast path's request side: read a client's HTTP/1.x request head, decide whether the
//! fast path may carry it, and write the head that goes to the target. Only plain requests
//! qualify: HTTP/1.1 or 1.0 (sent on as 1.1, as nginx does), an origin-form path of ordinary
//! characters, one Host, no body or one Content-Length within the buffered size, no
//! Transfer-Encoding, Upgrade or Expect, routed to a live service with a ready target and
//! nothing for the proxy to answer itself. Everything else (and every malformed head) goes to
//! the general hyper path, which decides and answers.

use super::header::{classify, tokens, write_line, Kind};
use crate::forward::Proxy;
use crate::router::{Mode, Target};
use std::ops::Range;
use std::sync::Arc;

/// Request bodies up to this size are read whole, then sent with the head in one write;
/// larger ones are streamed by the general path.
pub const MAX_BODY: usize = 64 * 1024;
/// Request headers the fast path parses; more go to the general path.
const MAX_HEADERS: usize = 100;

/// A request the fast path carries. Ranges point into the client buffer.
pub struct Plan {
    /// Bytes of the request head.
    pub head_len: usize,
    /// Bytes of the body (Content-Length).
    pub body_len: usize,
    pub method: Range<usize>,
    pub host: Range<usize>,
    /// The path without the query, for the log.
    pub path: Range<usize>,
    /// The client asked to close the connection after this request (an HTTP/1.0 client
    /// that did not ask to keep it).
    pub close: bool,
    /// An HTTP/1.0 client: keep-alive must be said, and it cannot read a chunked body.
    pub http10: bool,
    /// A HEAD request: the response has no body whatever it declares.
    pub head: bool,
    /// Safe to send again on a new connection when a reused one turned out closed.
    pub idempotent: bool,
    pub target: Arc<Target>,
    pub stats: Arc<crate::metrics::Stats>,
}

/// What a client's buffered bytes are.
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// Carried by the fast path; the head for the target is in `out`.
    Fast(Plan),
    /// For the general path.
    General,
}

/// Per-connection facts the outgoing head needs.
pub struct Client<'a> {
    pub ip: &'a str,
    pub tls: bool,
}

/// Parse `buf` and, for a fast-path request, write the target's head into `out` and the
/// request id into `id`.
pub fn plan(
    buf: &[u8],
    proxy: &Proxy,
    client: &Client<'_>,
    out: &mut Vec<u8>,
    id: &mut String,
) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::General,
    };
    let (Some(method), Some(target), Some(version @ (0 | 1))) = (req.method, req.path, req.version)
    else {
        return Parsed::General;
    };
    let http10 = version == 0;
    if method == "CONNECT" || !plain_path(target) {
        return Parsed::General;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !client.tls && path.starts_with(crate::acme::challenges::HTTP_PREFIX) {
        return Parsed::General;
    }

    // The headers that decide: framing, host, connection options, ids.
    let mut host: Option<&str> = None;
    let mut body_len: Option<usize> = None;
    let mut close = false;
    let mut keep_alive = false;
    let mut incoming_id: Option<Option<&str>> = None;
    let mut forwarded_for: Option<&[u8]> = None;
    let (mut has_proto, mut has_fwd_host) = (false, false);
    let mut kinds = [Kind::Other; MAX_HEADERS];
    for (h, kind) in req.headers.iter().zip(kinds.iter_mut()) {
        *kind = classify(h.name);
        match *kind {
            Kind::Host => {
                if host.is_some() {
                    return Parsed::General;
                }
                host = Some(match std::str::from_utf8(h.value) {
                    Ok(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => s,
                    _ => return Parsed::General,
                });
            }
            Kind::ContentLength => {
                let n = match std::str::from_utf8(h.value) {
                    Ok(s)
                        if !s.is_empty()
                            && s.len() <= 10
                            && s.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        s.parse::<usize>().ok()
                    }
                    _ => None,
                };
                match (body_len, n) {
                    (None, Some(n)) => body_len = Some(n),
                    _ => return Parsed::General,
                }
            }
            Kind::TransferEncoding | Kind::Upgrade | Kind::Expect => return Parsed::General,
            Kind::Connection => {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        return Parsed::General;
                    }
                }
            }
            Kind::RequestId => {
                // The first one counts, as on the general path.
                incoming_id.get_or_insert(
                    std::str::from_utf8(h.value)
                        .ok()
                        .filter(|v| !v.is_empty() && v.len() <= 200 && valid_value(v.as_bytes())),
                );
            }
            Kind::ForwardedFor => {
                forwarded_for.get_or_insert(h.value);
            }
            Kind::ForwardedProto => has_proto = true,
            Kind::ForwardedHost => has_fwd_host = true,
            Kind::OtherHopByHop | Kind::Other => {}
        }
    }
    let Some(host) = host else {
        return Parsed::General;
    };
    let body_len = body_len.unwrap_or(0);
    let max = proxy.limits.max_body_bytes;
    if body_len > MAX_BODY || (max > 0 && body_len as u64 > max) {
        return Parsed::General;
    }

    // Route: only a live service with a ready target and no redirect to HTTPS.
    let table = proxy.table.load();
    let Some(service) = table.route(host, path) else {
        return Parsed::General;
    };
    let may_redirect = service.tls_redirect && (service.tls.is_some() || service.acme);
    if service.mode != Mode::Live || !service.target.is_ready() || (!client.tls && may_redirect) {
        return Parsed::General;
    }

    // The target's head: request line (prefix stripped when asked), the client's headers
    // without hop-by-hop ones, then X-Forwarded-* and X-Request-Id.
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    let mut sent = target;
    let stripped;
    if let (true, Some(p)) = (service.strip_prefix, &service.path_prefix) {
        if let Some(rest) = target.strip_prefix(p.trim_end_matches('/')) {
            if rest.starts_with('/') {
                sent = rest;
            } else {
                stripped = format!("/{rest}");
                sent = &stripped;
            }
        }
    }
    out.extend_from_slice(sent.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let trust = proxy.trust_forwarded;
    for (h, kind) in req.headers.iter().zip(kinds) {
        let dropped = match kind {
            Kind::RequestId | Kind::ForwardedFor => true,
            Kind::ForwardedProto | Kind::ForwardedHost => !trust,
            k => k.hop_by_hop(),
        };
        if dropped {
            continue;
        }
        write_line(out, h.name.as_bytes(), h.value);
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    match forwarded_for {
        Some(prev) if trust && !prev.is_empty() => {
            out.extend_from_slice(prev);
            out.extend_from_slice(b", ");
        }
        _ => {}
    }
    out.extend_from_slice(client.ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !(trust && has_proto) {
        out.extend_from_slice(if client.tls {
            b"x-forwarded-proto: https\r\n"
        } else {
            b"x-forwarded-proto: http\r\n"
        });
    }
    if !(trust && has_fwd_host) {
        out.extend_from_slice(b"x-forwarded-host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    id.clear();
    match incoming_id.flatten() {
        Some(v) => id.push_str(v),
        None => proxy.write_request_id(id),
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");

    let at = |s: &str| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    Parsed::Fast(Plan {
        head_len,
        body_len,
        method: at(method),
        host: at(host),
        path: at(path),
        // HTTP/1.0 closes after each response unless the client asked otherwise.
        close: close || (http10 && !keep_alive),
        http10,
        head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        ),
        target: service.target.clone(),
        stats: service.stats.clone(),
    })
}

/// An origin-form request target (`/path?query`) of characters every parser reads alike;
/// anything else is left to the general path's stricter URI parser.
fn plain_path(target: &str) -> bool {
    target.starts_with('/')
        && target.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' | b'#'
                )
        })
}

/// Visible ASCII and spaces (what a header value that is also a valid string holds).
fn valid_value(v: &[u8]) -> bool {
    v.iter()
        .all(|b| *b == b' ' || *b == b'\t' || b.is_ascii_graphic())
}
