//! The fast path's request side: read a client's HTTP/1.x request head, decide whether the
//! fast path may carry it, and write the head that goes to the target. Only plain requests
//! qualify: HTTP/1.1 or 1.0 (sent on as 1.1, as nginx does), an origin-form path of ordinary
//! characters, one Host, no body or one Content-Length within the buffered size, no
//! Transfer-Encoding, Upgrade or Expect, routed to a live service with a ready target and
//! nothing for the proxy to answer itself (no redirect, the client within the service's rate
//! limit: a request over it goes to the general path, which answers 429). Everything else (and every malformed head) goes to
//! the general hyper path, which decides and answers (400 for a missing or second Host, 501
//! for a transfer coding). What is rewritten follows `policy`: hop-by-hop headers and the
//! ones `Connection` names dropped (found by scanning the Connection values already parsed,
//! only when they name any), forwarding headers by the sender's trust, decided once per
//! connection.

use super::header::{tokens, write_line};
use crate::policy::{self, forwarded as fwd, HeaderClass};
use crate::proxy::Proxy;
use crate::router::{Service, ServiceMode};
use crate::stats::Stats;
use crate::upstream::Upstream;
use std::ops::Range;
use std::sync::Arc;

/// Request bodies up to this size are read whole, then sent with the head in one write;
/// larger ones are streamed by the general path.
pub const MAX_BODY: usize = 64 * 1024;
/// Request headers the fast path parses; more go to the general path.
const MAX_HEADERS: usize = 100;

/// A request the fast path carries. Ranges point into the client buffer.
pub struct FastPlan {
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
    pub target: Arc<Upstream>,
    /// The service's targets when it has several: another one takes a request its target
    /// could not (none with one target: nothing is cloned for it).
    pub replicas: Option<Arc<crate::replicas::Replicas>>,
    pub stats: Arc<Stats>,
    /// How long the target has to start its response (the service's, else the proxy's).
    pub response_timeout: std::time::Duration,
    /// The service's traffic settings, when it has its own error pages.
    pub pages: Option<Arc<crate::traffic::ServiceTraffic>>,
}

/// What a client's buffered bytes are.
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// Carried by the fast path; the head for the target is in `out`.
    Fast(FastPlan),
    /// For the general path.
    General,
}

/// Per-connection facts the outgoing head needs.
pub struct ClientSide<'a> {
    pub ip: &'a str,
    pub tls: bool,
    /// The client's address is a trusted sender of forwarding headers.
    pub trusted: bool,
}

/// What the headers that decide say: framing, host, connection options, ids.
struct Facts<'a> {
    host: &'a str,
    body_len: usize,
    close: bool,
    keep_alive: bool,
    /// The first X-Request-Id: Some(None) when `policy` does not accept it.
    incoming_id: Option<Option<&'a str>>,
    has_proto: bool,
    has_fwd_host: bool,
    /// A Connection header names other headers (they are not passed on).
    listed: bool,
}

/// Parse `buf` and, for a fast-path request, write the target's head into `out` and the
/// request id into `id`.
pub fn plan(
    buf: &[u8],
    proxy: &Proxy,
    client: &ClientSide<'_>,
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
    let mut classes = [HeaderClass::Other; MAX_HEADERS];
    let Some(mut facts) = read_headers(req.headers, &mut classes) else {
        return Parsed::General;
    };
    let client_head = ClientHead {
        method,
        target,
        headers: req.headers,
        classes: &classes,
    };
    if facts.listed {
        // Forwarding headers the Connection names do not count as sent.
        let sent = |c: HeaderClass| {
            client_head
                .fields()
                .any(|(h, class)| class == c && !client_head.dropped(h, class))
        };
        facts.has_proto = sent(HeaderClass::ForwardedProto);
        facts.has_fwd_host = sent(HeaderClass::ForwardedHost);
    }
    let max = proxy.limits.max_body_bytes;
    if facts.body_len > MAX_BODY || (max > 0 && facts.body_len as u64 > max) {
        return Parsed::General;
    }
    let table = proxy.table.load();
    let Some(service) = route(&table, &facts, path, client) else {
        return Parsed::General;
    };
    // A service's own body limit or buffering the fast path cannot apply, nor a canary's
    // choice of side: the general path.
    if !service.limits.fast_path_carries(facts.body_len) || service.canary.is_some() {
        return Parsed::General;
    }
    let real_ip = write_head(out, client_head, &facts, service, client, proxy, id);
    if !admitted(service, client_head, &out[real_ip]) {
        // The general path answers 429 (and counts it).
        return Parsed::General;
    }

    let at = |s: &str| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    Parsed::Fast(FastPlan {
        head_len,
        body_len: facts.body_len,
        method: at(method),
        host: at(facts.host),
        path: at(path),
        // HTTP/1.0 closes after each response unless the client asked otherwise.
        close: facts.close || (http10 && !facts.keep_alive),
        http10,
        head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        ),
        target: service.pick().clone(),
        replicas: service.replicas.clone(),
        stats: service.stats.clone(),
        response_timeout: service.limits.response_timeout(&proxy.limits),
        pages: service.traffic.pages.any().then(|| service.traffic.clone()),
    })
}

/// Within the service's rate limit (a token taken), or it has none. The client is the
/// limit's header's value, else its address as written in X-Real-IP (`real_ip`).
#[inline]
fn admitted(service: &Service, head: ClientHead<'_, '_>, real_ip: &[u8]) -> bool {
    use crate::traffic::rate::{Client, Verdict};
    let Some(limiter) = &service.traffic.limiter else {
        return true;
    };
    let header = match &limiter.key {
        dhow_proxy_api::RateKey::Header(name) => head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value),
        dhow_proxy_api::RateKey::Ip => None,
    };
    let who = header.map_or(Client::Ip(real_ip), Client::Header);
    limiter.check(who, std::time::Instant::now()) == Verdict::Pass
}

/// Classify every header (into `classes`) and read the ones that decide; None: the request
/// is for the general path (no Host or two, a bad or second Content-Length, a
/// Transfer-Encoding, Upgrade or Expect).
#[inline]
fn read_headers<'a>(
    headers: &[httparse::Header<'a>],
    classes: &mut [HeaderClass; MAX_HEADERS],
) -> Option<Facts<'a>> {
    let mut host: Option<&str> = None;
    let mut body_len: Option<usize> = None;
    let mut facts = Facts {
        host: "",
        body_len: 0,
        close: false,
        keep_alive: false,
        incoming_id: None,
        has_proto: false,
        has_fwd_host: false,
        listed: false,
    };
    for (h, class) in headers.iter().zip(classes.iter_mut()) {
        *class = policy::classify(h.name);
        match *class {
            HeaderClass::Host => {
                if host.is_some() {
                    return None;
                }
                host = Some(match std::str::from_utf8(h.value) {
                    Ok(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => s,
                    _ => return None,
                });
            }
            HeaderClass::ContentLength => {
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
                    _ => return None,
                }
            }
            HeaderClass::TransferEncoding | HeaderClass::Upgrade | HeaderClass::Expect => {
                return None
            }
            HeaderClass::Connection => {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        facts.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        facts.keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        return None;
                    }
                }
                facts.listed |= policy::names_headers(h.value);
            }
            HeaderClass::RequestId => {
                // The first one counts, as on the general path.
                facts.incoming_id.get_or_insert(
                    std::str::from_utf8(h.value)
                        .ok()
                        .filter(|v| policy::accept_request_id(v.as_bytes())),
                );
            }
            HeaderClass::ForwardedProto => facts.has_proto = true,
            HeaderClass::ForwardedHost => facts.has_fwd_host = true,
            HeaderClass::ForwardedFor
            | HeaderClass::RealIp
            | HeaderClass::ForwardedOther
            | HeaderClass::ForwardedSpoof
            | HeaderClass::OtherHopByHop
            | HeaderClass::Other => {}
        }
    }
    facts.host = host?;
    facts.body_len = body_len.unwrap_or(0);
    Some(facts)
}

/// The service, when it is live with a ready target and no redirect (to HTTPS, to its
/// canonical host) to answer.
#[inline]
fn route<'t>(
    table: &'t crate::router::Table,
    facts: &Facts<'_>,
    path: &str,
    client: &ClientSide<'_>,
) -> Option<&'t Service> {
    let service = table.route(facts.host, path)?;
    let may_redirect = service.tls_redirect && (service.tls.is_some() || service.acme);
    if service.mode != ServiceMode::Live
        || !service.is_ready()
        || (!client.tls && may_redirect)
        || service.traffic.redirects(facts.host)
    {
        return None;
    }
    Some(service)
}

/// The client's request head as parsed: its request line and header fields, classified.
#[derive(Clone, Copy)]
struct ClientHead<'h, 'a> {
    method: &'a str,
    /// The request target (path and query).
    target: &'a str,
    headers: &'h [httparse::Header<'a>],
    classes: &'h [HeaderClass; MAX_HEADERS],
}

impl<'h, 'a> ClientHead<'h, 'a> {
    /// The header fields with their classes.
    #[inline]
    fn fields(
        self,
    ) -> impl DoubleEndedIterator<Item = (&'h httparse::Header<'a>, HeaderClass)> + Clone {
        self.headers.iter().zip(self.classes.iter().copied())
    }

    /// Does a Connection header name this field (only asked when one names any)?
    #[inline]
    fn dropped(self, h: &httparse::Header<'_>, class: HeaderClass) -> bool {
        self.fields().any(|(c, cc)| {
            cc == HeaderClass::Connection && policy::names(c.value, h.name.as_bytes(), class)
        })
    }
}

/// The target's head: request line (prefix stripped when asked), the client's headers
/// without the ones the proxy replaces, then X-Forwarded-* and X-Request-Id. Returns where
/// the client's address (X-Real-IP's value) is in `out`.
#[inline]
fn write_head(
    out: &mut Vec<u8>,
    head: ClientHead<'_, '_>,
    facts: &Facts<'_>,
    service: &Service,
    client: &ClientSide<'_>,
    proxy: &Proxy,
    id: &mut String,
) -> Range<usize> {
    out.clear();
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    let path = head.target.split_once('?').map_or(head.target, |(p, _)| p);
    let prefix = service.matched_prefix(path);
    match policy::strip_prefix(head.target, prefix, service.strip_prefix) {
        Some(stripped) => stripped.write(out),
        None => out.extend_from_slice(head.target.as_bytes()),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let trusted = client.trusted;
    let listed = facts.listed;
    for (h, class) in head.fields() {
        if !(policy::replaced_in_request(class, trusted) || listed && head.dropped(h, class)) {
            write_line(out, h.name.as_bytes(), h.value);
        }
    }
    let chain = head
        .fields()
        .filter(|(h, class)| {
            *class == HeaderClass::ForwardedFor && !(listed && head.dropped(h, *class))
        })
        .map(|(h, _)| h.value);
    out.extend_from_slice(b"x-forwarded-for: ");
    fwd::forwarded_for(trusted, chain.clone(), client.ip, out);
    out.extend_from_slice(b"\r\nx-real-ip: ");
    let real_ip = out.len();
    fwd::client_address(&proxy.rules.trust, trusted, chain, client.ip, out);
    let real_ip = real_ip..out.len();
    out.extend_from_slice(b"\r\n");
    if !fwd::keep_incoming_forwarded(trusted, facts.has_proto) {
        let proto = fwd::forwarded_proto(client.tls);
        write_line(out, b"x-forwarded-proto", proto.as_bytes());
    }
    if fwd::write_forwarded_host(trusted, facts.has_fwd_host, facts.host.as_bytes()) {
        write_line(out, b"x-forwarded-host", facts.host.as_bytes());
    }
    id.clear();
    match facts.incoming_id.flatten() {
        Some(v) => id.push_str(v),
        None => proxy.write_request_id(id),
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    real_ip
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
