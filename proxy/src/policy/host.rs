//! How a request's host is read, one rule for routing, the redirect to HTTPS and the choice of
//! a certificate: the Host header (HTTP/1.x) or `:authority` (HTTP/2), any `:port` taken off,
//! compared in any case.

use std::borrow::Cow;

/// The host name of a Host value or an authority: userinfo and any `:port` taken off
/// (`a.test:8080` -> `a.test`, `a.test:` -> `a.test`, `[::1]:8080` -> `[::1]`). A value with
/// more than one colon outside brackets is left whole (it is no host:port).
#[inline]
pub fn name(host: &str) -> &str {
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.split_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The host name in lower case, as certificates are looked up (borrowed when it already is).
#[inline]
pub fn key(host: &str) -> Cow<'_, str> {
    let n = name(host);
    if n.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(n.to_ascii_lowercase())
    } else {
        Cow::Borrowed(n)
    }
}

/// An authority (`user@host:port`) as the Host header the app gets: without the userinfo.
#[inline]
pub fn of_authority(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// May a request with `hosts` Host headers go on? One at most, and exactly one in HTTP/1.1
/// (RFC 9112 3.2); HTTP/1.0 may have none, HTTP/2 names its host in `:authority`.
#[inline]
pub fn count_ok(http11: bool, hosts: usize) -> bool {
    hosts == 1 || (hosts == 0 && !http11)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_case_do_not_count() {
        for (host, want) in [
            ("a.test:8080", "a.test"),
            ("a.test", "a.test"),
            ("a.test:", "a.test"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("u@a.test:1", "a.test"),
            ("a.test:x", "a.test:x"),
            ("::1", "::1"),
        ] {
            assert_eq!(name(host), want, "{host}");
        }
        assert_eq!(key("Shop.TEST:443"), "shop.test");
        assert!(matches!(key("shop.test"), Cow::Borrowed(_)));
        assert_eq!(of_authority("u:p@a.test:8443"), "a.test:8443");
        assert!(count_ok(true, 1) && count_ok(false, 0) && count_ok(false, 1));
        assert!(!count_ok(true, 0) && !count_ok(true, 2) && !count_ok(false, 2));
    }
}
