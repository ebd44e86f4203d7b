//! Which header a name is, for the fast path: each header name is compared once, by length
//! first, against the few names the proxy acts on, instead of once per name per decision.

/// The headers the fast path treats apart from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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

impl Kind {
    /// Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
    pub fn hop_by_hop(self) -> bool {
        matches!(
            self,
            Kind::Connection | Kind::TransferEncoding | Kind::Upgrade | Kind::OtherHopByHop
        )
    }
}

/// The kind of the header called `name` (any case).
#[inline]
pub fn classify(name: &str) -> Kind {
    let b = name.as_bytes();
    let is = |n: &[u8]| b.eq_ignore_ascii_case(n);
    match b.len() {
        2 if is(b"te") => Kind::OtherHopByHop,
        4 if is(b"host") => Kind::Host,
        6 if is(b"expect") => Kind::Expect,
        7 if is(b"upgrade") => Kind::Upgrade,
        7 if is(b"trailer") => Kind::OtherHopByHop,
        10 if is(b"connection") => Kind::Connection,
        10 if is(b"keep-alive") => Kind::OtherHopByHop,
        12 if is(b"x-request-id") => Kind::RequestId,
        14 if is(b"content-length") => Kind::ContentLength,
        15 if is(b"x-forwarded-for") => Kind::ForwardedFor,
        16 if is(b"x-forwarded-host") => Kind::ForwardedHost,
        16 if is(b"proxy-connection") => Kind::OtherHopByHop,
        17 if is(b"transfer-encoding") => Kind::TransferEncoding,
        17 if is(b"x-forwarded-proto") => Kind::ForwardedProto,
        _ => Kind::Other,
    }
}

/// The comma-separated tokens of a header value (`Connection: close, upgrade`), trimmed.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii)
}

/// Append `name: value` and its line end to a head being written.
#[inline]
pub fn write_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.push(b':');
    out.push(b' ');
    out.extend_from_slice(value);
    out.push(b'\r');
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_in_any_case_and_only_whole() {
        assert_eq!(classify("Host"), Kind::Host);
        assert_eq!(classify("HOSTS"), Kind::Other);
        assert_eq!(classify("content-LENGTH"), Kind::ContentLength);
        assert_eq!(classify("Transfer-Encoding"), Kind::TransferEncoding);
        assert_eq!(classify("X-Forwarded-Proto"), Kind::ForwardedProto);
        assert_eq!(classify("x-forwarded-prot"), Kind::Other);
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
        let got: Vec<&[u8]> = tokens(b"close ,  Upgrade,").collect();
        assert_eq!(got, [&b"close"[..], b"Upgrade", b""]);
    }
}
