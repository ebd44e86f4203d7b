//! `[canary]`: the cookie must be a cookie name, the header a header name, and allowlisted
//! values cookie values (the proxy compares them with what clients send).

use super::super::locate::key;
use super::super::schema::Config;
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    let Some(k) = &c.canary else {
        return;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    if let Some(cookie) = &k.cookie {
        if !token(cookie) {
            e.add(
                &[key("canary"), key("cookie")],
                format!("cookie {cookie:?}: a cookie name is letters, digits, _ - . only"),
            );
        }
    }
    if let Some(header) = &k.header {
        if !token(header) {
            e.add(
                &[key("canary"), key("header")],
                format!("header {header:?}: a header name is letters, digits, _ - . only"),
            );
        }
    }
    for v in &k.allow {
        if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
            e.add(
                &[key("canary"), key("allow")],
                format!(
                    "allow {v:?}: a cookie value is 1 to 128 printable characters, no ; or space"
                ),
            );
        }
    }
}
