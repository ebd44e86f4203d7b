//! `[canary]`: the cookie must be a cookie name, the header a header name, and allowlisted
//! values cookie values (the proxy compares them with what clients send). `[deploy]`: the
//! bake window's error rate is a share (0 to 1) and its limits need a window to apply in.

use super::super::locate::key;
use super::super::schema::Config;
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    if let Some(d) = &c.deploy {
        if let Some(r) = d.bake_max_error_rate {
            if !(0.0..=1.0).contains(&r) {
                e.add(
                    &[key("deploy"), key("bake_max_error_rate")],
                    format!("bake_max_error_rate {r}: a share of requests, 0 to 1 (0.01 is 1%)"),
                );
            }
        }
    }
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
