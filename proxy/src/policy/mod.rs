//! The rules both HTTP paths apply to every request they forward, written once: the fast path
//! (`fast/`, on bytes) and the general hyper path (`forward/`, on header maps) both call these.
//! Which headers the proxy acts on and which belong to one connection (hop-by-hop, and the
//! ones a `Connection` header names), which incoming request id is kept and how new ones are
//! made, how a service's path prefix is stripped, which transfer codings are passed on;
//! `upgrade` which upgrades are; `forwarded` says which forwarding headers are trusted and what the proxy writes
//! in them, `host` how a Host value is read. Plain functions on bytes and `&str`, cheap enough
//! to inline: nothing here allocates per request.

pub mod flags;
pub mod forwarded;
pub mod host;
pub mod upgrade;

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
    /// `X-Real-IP`: the proxy writes its own.
    RealIp,
    /// `Forwarded` and the other `X-Forwarded-*` (Port, Prefix, Ssl...): passed on only from a
    /// trusted sender.
    ForwardedOther,
    /// A forwarding header spelled with underscores (`X_Forwarded_For`): many app servers
    /// read it as the real one, no balancer writes it; never passed on.
    ForwardedSpoof,
    /// `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `HTTP2-Settings`.
    OtherHopByHop,
    Other,
}

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1, and the h2c
/// upgrade's `HTTP2-Settings`): removed from what is forwarded either way.
/// `HeaderClass::hop_by_hop` says the same of a classified name.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
    "http2-settings",
];

pub const X_REQUEST_ID: &str = "x-request-id";
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";
pub const X_REAL_IP: &str = "x-real-ip";

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
/// first, against the few names the proxy acts on; only names starting like a forwarding
/// header are looked at again (for other `X-Forwarded-*` and underscore spellings).
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
        9 if is(b"x-real-ip") => HeaderClass::RealIp,
        9 if is(b"forwarded") => HeaderClass::ForwardedOther,
        10 if is(b"connection") => HeaderClass::Connection,
        10 if is(b"keep-alive") => HeaderClass::OtherHopByHop,
        12 if is(b"x-request-id") => HeaderClass::RequestId,
        14 if is(b"content-length") => HeaderClass::ContentLength,
        14 if is(b"http2-settings") => HeaderClass::OtherHopByHop,
        15 if is(b"x-forwarded-for") => HeaderClass::ForwardedFor,
        16 if is(b"x-forwarded-host") => HeaderClass::ForwardedHost,
        16 if is(b"proxy-connection") => HeaderClass::OtherHopByHop,
        17 if is(b"transfer-encoding") => HeaderClass::TransferEncoding,
        17 if is(b"x-forwarded-proto") => HeaderClass::ForwardedProto,
        _ if matches!(b.first(), Some(b'x' | b'X' | b'f' | b'F')) => forwarding_family(b),
        _ => HeaderClass::Other,
    }
}

/// `Forwarded`, `X-Real-IP` and any `X-Forwarded-*` in any spelling: with an underscore for a
/// dash it is a spoof, else (a name `classify` did not match exactly) another forwarding one.
/// Only names starting with `x` or `f` get here, and most leave at the first comparison.
fn forwarding_family(b: &[u8]) -> HeaderClass {
    let same = |a: &[u8], n: &[u8]| {
        a.len() == n.len()
            && a.iter()
                .zip(n)
                .all(|(a, n)| a.eq_ignore_ascii_case(n) || (*n == b'-' && *a == b'_'))
    };
    let named = same(b, b"x-real-ip")
        || same(b, b"forwarded")
        || (b.len() > 12 && same(&b[..12], b"x-forwarded-"));
    match (named, b.contains(&b'_')) {
        (false, _) => HeaderClass::Other,
        (true, true) => HeaderClass::ForwardedSpoof,
        (true, false) => HeaderClass::ForwardedOther,
    }
}

/// Incoming headers of this class are not passed on in a request from a sender that is
/// (`trusted`) or is not trusted with forwarding headers: the proxy writes its own
/// (X-Request-Id, X-Forwarded-For, X-Real-IP always; X-Forwarded-Proto/-Host unless trusted),
/// other forwarding headers go only from a trusted sender, underscore spellings never, and
/// hop-by-hop ones never.
#[inline]
pub fn replaced_in_request(class: HeaderClass, trusted: bool) -> bool {
    match class {
        HeaderClass::RequestId
        | HeaderClass::ForwardedFor
        | HeaderClass::RealIp
        | HeaderClass::ForwardedSpoof => true,
        HeaderClass::ForwardedProto | HeaderClass::ForwardedHost | HeaderClass::ForwardedOther => {
            !trusted
        }
        c => c.hop_by_hop(),
    }
}

/// A target's response headers of this class are not passed on: hop-by-hop ones, and the
/// request id (the client gets the request's own).
#[inline]
pub fn replaced_in_response(class: HeaderClass) -> bool {
    class.hop_by_hop() || class == HeaderClass::RequestId
}

/// The comma-separated tokens of a header value (`Connection: close, upgrade`), trimmed.
#[inline]
pub fn tokens(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii)
}

/// Does a `Connection` value name other headers (RFC 9110 7.6.1), beyond the options the
/// proxy reads itself (`close`, `keep-alive`, `upgrade`)? Tells the paths to look for them.
#[inline]
pub fn names_headers(connection: &[u8]) -> bool {
    tokens(connection).any(|t| {
        !t.is_empty()
            && !t.eq_ignore_ascii_case(b"close")
            && !t.eq_ignore_ascii_case(b"keep-alive")
            && !t.eq_ignore_ascii_case(b"upgrade")
    })
}

/// Does this `Connection` value name the header `name` (so it is not passed on)? Host and
/// Content-Length are never taken this way: routing and framing read them, and the proxy
/// frames what it sends itself (Transfer-Encoding is hop-by-hop anyway).
#[inline]
pub fn names(connection: &[u8], name: &[u8], class: HeaderClass) -> bool {
    !matches!(class, HeaderClass::Host | HeaderClass::ContentLength)
        && tokens(connection).any(|t| t.eq_ignore_ascii_case(name))
}

/// What a request's `Transfer-Encoding` says (RFC 9112 6.1): only plain `chunked` is carried;
/// any other coding (`gzip, chunked`) would reach the app without its name, so it is 501.
#[inline]
pub fn request_coding_ok(value: &[u8]) -> bool {
    value.trim_ascii().eq_ignore_ascii_case(b"chunked")
}

/// A target's `Transfer-Encoding` the proxy passes on: plain `chunked` only. Another coding
/// (`gzip, chunked`) would be de-chunked into a body that lost its coding: 502 instead.
#[inline]
pub fn response_coding_ok(value: &[u8]) -> bool {
    request_coding_ok(value)
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
        // Whole names only: a near miss is no X-Forwarded-Proto (it is another X-Forwarded-*).
        assert_eq!(classify("x-forwarded-prot"), HeaderClass::ForwardedOther);
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
    fn forwarding_names_in_every_spelling() {
        for (name, class) in [
            ("X-Real-IP", HeaderClass::RealIp),
            ("Forwarded", HeaderClass::ForwardedOther),
            ("X-Forwarded-Port", HeaderClass::ForwardedOther),
            ("x-forwarded-prefix", HeaderClass::ForwardedOther),
            ("X_Forwarded_For", HeaderClass::ForwardedSpoof),
            ("x_forwarded-host", HeaderClass::ForwardedSpoof),
            ("X_Real_IP", HeaderClass::ForwardedSpoof),
            ("x-forwarded-", HeaderClass::Other),
            ("X-Frame-Options", HeaderClass::Other),
            ("HTTP2-Settings", HeaderClass::OtherHopByHop),
        ] {
            assert_eq!(classify(name), class, "{name}");
        }
        assert!(replaced_in_request(HeaderClass::ForwardedSpoof, true));
        assert!(replaced_in_request(HeaderClass::RealIp, true));
        assert!(!replaced_in_request(HeaderClass::ForwardedOther, true));
        assert!(replaced_in_request(HeaderClass::ForwardedOther, false));
    }

    #[test]
    fn connection_options_and_codings() {
        assert!(!names_headers(b"close, Keep-Alive ,upgrade"));
        assert!(names_headers(b"close, X-Secret"));
        assert!(names(b"close, x-secret", b"X-Secret", HeaderClass::Other));
        assert!(!names(b"host", b"Host", HeaderClass::Host));
        assert!(!names(
            b"content-length",
            b"content-length",
            HeaderClass::ContentLength
        ));
        assert!(request_coding_ok(b" Chunked "));
        for bad in [&b"gzip, chunked"[..], b"chunked, chunked", b"gzip", b""] {
            assert!(!request_coding_ok(bad) && !response_coding_ok(bad));
        }
    }
}
