//! The rules both HTTP paths apply to every request they forward, written once: the fast path
//! (`fast/`, on bytes) and the general hyper path (`forward/`, on header maps) both call these.
//! Which headers the proxy acts on and which belong to one connection (hop-by-hop), which
//! incoming request id is kept and how new ones are made, how a service's path prefix is
//! stripped, which X-Forwarded-* headers are trusted and what the proxy writes in them, and how
//! a Host value is normalised. Plain functions on bytes and `&str`, cheap enough to inline.

use std::sync::atomic::{AtomicU64, Ordering};

/// The headers the proxy treats apart from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderClass {
    Host,
    ContentLength,
    TransferEncoding,
    Upgrade,
    Expect,
    Connection,
    RequestId,
    ForwardedFor,
    ForwardedProto,
    ForwardedHost,
    /// `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`.
    OtherHopByHop,
    Other,
}

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1): removed from
/// what is forwarded either way. `HeaderClass::hop_by_hop` says the same of a classified name.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

pub const X_REQUEST_ID: &str = "x-request-id";
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";

impl HeaderClass {
    /// One of [`HOP_BY_HOP`].
    #[inline]
    pub fn hop_by_hop(self) -> bool {
        matches!(
            self,
            HeaderClass::Connection
                | HeaderClass::TransferEncoding
                | HeaderClass::Upgrade
                | HeaderClass::OtherHopByHop
        )
    }
}

/// The class of the header called `name` (any case): each name is compared once, by length
/// first, against the few names the proxy acts on.
#[inline]
pub fn classify(name: &str) -> HeaderClass {
    let b = name.as_bytes();
    let is = |n: &[u8]| b.eq_ignore_ascii_case(n);
    match b.len() {
        2 if is(b"te") => HeaderClass::OtherHopByHop,
        4 if is(b"host") => HeaderClass::Host,
        6 if is(b"expect") => HeaderClass::Expect,
        7 if is(b"upgrade") => HeaderClass::Upgrade,
        7 if is(b"trailer") => HeaderClass::OtherHopByHop,
        10 if is(b"connection") => HeaderClass::Connection,
        10 if is(b"keep-alive") => HeaderClass::OtherHopByHop,
        12 if is(b"x-request-id") => HeaderClass::RequestId,
        14 if is(b"content-length") => HeaderClass::ContentLength,
        15 if is(b"x-forwarded-for") => HeaderClass::ForwardedFor,
        16 if is(b"x-forwarded-host") => HeaderClass::ForwardedHost,
        16 if is(b"proxy-connection") => HeaderClass::OtherHopByHop,
        17 if is(b"transfer-encoding") => HeaderClass::TransferEncoding,
        17 if is(b"x-forwarded-proto") => HeaderClass::ForwardedProto,
        _ => HeaderClass::Other,
    }
}

/// Incoming headers of this class are not passed on in a request: the proxy writes its own
/// (X-Request-Id, X-Forwarded-For always; X-Forwarded-Proto/-Host unless `trust`), or they
/// are hop-by-hop.
#[inline]
pub fn replaced_in_request(class: HeaderClass, trust: bool) -> bool {
    match class {
        HeaderClass::RequestId | HeaderClass::ForwardedFor => true,
        HeaderClass::ForwardedProto | HeaderClass::ForwardedHost => !trust,
        c => c.hop_by_hop(),
    }
}

/// A target's response headers of this class are not passed on: hop-by-hop ones, and the
/// request id (the client gets the request's own).
#[inline]
pub fn replaced_in_response(class: HeaderClass) -> bool {
    class.hop_by_hop() || class == HeaderClass::RequestId
}

/// The longest incoming X-Request-Id kept.
pub const MAX_REQUEST_ID: usize = 200;

/// Is an incoming X-Request-Id kept (else the proxy makes one): non-empty, at most
/// [`MAX_REQUEST_ID`] bytes, visible ASCII, spaces and tabs only. The first one counts.
#[inline]
pub fn accept_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value
            .iter()
            .all(|b| *b == b' ' || *b == b'\t' || b.is_ascii_graphic())
}

/// New request ids: `<pid>-<counter>` in hex; the pid is read once (getpid is a syscall).
#[derive(Debug)]
pub struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds {
            prefix: format!("{:x}", std::process::id()),
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    /// Append a new request id to `into`.
    #[inline]
    pub fn write(&self, into: &mut String) {
        use std::fmt::Write;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let _ = write!(into, "{}-{n:x}", self.prefix);
    }
}

/// A request target with a service's path prefix taken off: a `/` to put first (the rest did
/// not start with one), then `rest`, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrippedPath<'a> {
    pub slash: bool,
    pub rest: &'a str,
}

impl StrippedPath<'_> {
    /// Append the stripped target to a head being written.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>) {
        if self.slash {
            out.push(b'/');
        }
        out.extend_from_slice(self.rest.as_bytes());
    }
}

impl std::fmt::Display for StrippedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.slash {
            f.write_str("/")?;
        }
        f.write_str(self.rest)
    }
}

/// The request target (path and query) a service's upstream gets when it asks to have its
/// prefix stripped (`strip`); None: `target` goes as it is.
#[inline]
pub fn strip_prefix<'a>(
    target: &'a str,
    prefix: Option<&str>,
    strip: bool,
) -> Option<StrippedPath<'a>> {
    let (true, Some(p)) = (strip, prefix) else {
        return None;
    };
    let rest = target.strip_prefix(p.trim_end_matches('/'))?;
    Some(StrippedPath {
        slash: !rest.starts_with('/'),
        rest,
    })
}

/// Incoming X-Forwarded-Proto / X-Forwarded-Host (`present`) are kept only when the proxy is
/// told it sits behind a trusted balancer (`trust`); otherwise the proxy is the edge and a
/// client could forge them, so the proxy writes its own.
#[inline]
pub fn keep_incoming_forwarded(trust: bool, present: bool) -> bool {
    trust && present
}

/// The X-Forwarded-Proto the proxy writes.
#[inline]
pub fn forwarded_proto(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// Write the X-Forwarded-For value into `out`: the client's address, after the incoming
/// chain (the first incoming header's value) when it is trusted and not empty.
#[inline]
pub fn forwarded_for(trust: bool, incoming: Option<&[u8]>, client_ip: &str, out: &mut Vec<u8>) {
    match incoming {
        Some(prev) if trust && !prev.is_empty() => {
            out.extend_from_slice(prev);
            out.extend_from_slice(b", ");
        }
        _ => {}
    }
    out.extend_from_slice(client_ip.as_bytes());
}

/// Does the proxy write X-Forwarded-Host (the request's host) for a request whose host is
/// `host` and which came with one (`present`)?
#[inline]
pub fn write_forwarded_host(trust: bool, present: bool, host: &[u8]) -> bool {
    !keep_incoming_forwarded(trust, present) && !host.is_empty()
}

/// The host name a request is routed by: a trailing `:digits` port taken off.
#[inline]
pub fn routing_host(host: &str) -> &str {
    host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

/// A host without its port, for a redirect: `example.com:8080` -> `example.com`;
/// `[::1]:8080` -> `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.split_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_in_any_case_and_only_whole() {
        assert_eq!(classify("Host"), HeaderClass::Host);
        assert_eq!(classify("HOSTS"), HeaderClass::Other);
        assert_eq!(classify("content-LENGTH"), HeaderClass::ContentLength);
        assert_eq!(classify("Transfer-Encoding"), HeaderClass::TransferEncoding);
        assert_eq!(classify("X-Forwarded-Proto"), HeaderClass::ForwardedProto);
        assert_eq!(classify("x-forwarded-prot"), HeaderClass::Other);
        for hop in [
            "Connection",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Upgrade",
        ] {
            assert!(classify(hop).hop_by_hop(), "{hop}");
        }
        for not in ["Trailers", "Content-Type", "X-Request-Id", "Expect", ""] {
            assert!(!classify(not).hop_by_hop(), "{not}");
        }
    }

    #[test]
    fn the_hop_by_hop_list_and_the_classes_agree() {
        for name in HOP_BY_HOP {
            assert!(classify(name).hop_by_hop(), "{name}");
        }
        let classes = [
            "host",
            "content-length",
            "transfer-encoding",
            "upgrade",
            "expect",
            "connection",
            "x-request-id",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
        ];
        for name in classes {
            assert_eq!(
                classify(name).hop_by_hop(),
                HOP_BY_HOP.contains(&name),
                "{name}"
            );
        }
        for (name, class) in [
            (X_REQUEST_ID, HeaderClass::RequestId),
            (X_FORWARDED_FOR, HeaderClass::ForwardedFor),
            (X_FORWARDED_PROTO, HeaderClass::ForwardedProto),
            (X_FORWARDED_HOST, HeaderClass::ForwardedHost),
        ] {
            assert_eq!(classify(name), class);
        }
    }

    #[test]
    fn request_ids_and_prefixes() {
        assert!(accept_request_id(b"abc 1\t2"));
        assert!(!accept_request_id(b""));
        assert!(!accept_request_id(&[b'a'; 201]));
        assert!(!accept_request_id("é".as_bytes()));
        let ids = RequestIds::default();
        let (mut a, mut b) = (String::new(), String::new());
        ids.write(&mut a);
        ids.write(&mut b);
        assert_ne!(a, b);
        let s = |t, p, strip| strip_prefix(t, p, strip).map(|s| s.to_string());
        assert_eq!(s("/api/x?q", Some("/api/"), true).as_deref(), Some("/x?q"));
        assert_eq!(s("/api?q", Some("/api"), true).as_deref(), Some("/?q"));
        assert_eq!(s("/api", Some("/api"), true).as_deref(), Some("/"));
        assert_eq!(s("/api/x", Some("/api"), false), None);
        assert_eq!(s("/other", Some("/api"), true), None);
    }

    #[test]
    fn forwarded_values_and_hosts() {
        let mut out = Vec::new();
        forwarded_for(true, Some(b"1.2.3.4"), "10.0.0.1", &mut out);
        assert_eq!(out, b"1.2.3.4, 10.0.0.1");
        out.clear();
        forwarded_for(false, Some(b"1.2.3.4"), "10.0.0.1", &mut out);
        assert_eq!(out, b"10.0.0.1");
        assert!(write_forwarded_host(false, true, b"a.test"));
        assert!(!write_forwarded_host(true, true, b"a.test"));
        assert_eq!(routing_host("a.test:8080"), "a.test");
        assert_eq!(routing_host("a.test"), "a.test");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("a.test:8080"), "a.test");
    }
}
