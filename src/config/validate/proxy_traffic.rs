//! `[proxy]`'s traffic keys: `path_prefixes` (each a path, not beside `path_prefix`),
//! `[proxy.rate_limit]` (at least one request per at least 1 ms, a burst of at least 1, a
//! client key the proxy knows), `canonical_host` (one of the app's exact hosts) and
//! `error_pages_path` (not empty; its files are read, and checked, when the deploy is planned).

use super::super::locate::{key, Seg};
use super::super::schema::ProxyConfig;
use super::Errors;
use std::time::Duration;

pub(super) fn check(p: &ProxyConfig, e: &mut Errors) {
    if let Some(list) = &p.path_prefixes {
        if p.path_prefix.is_some() {
            e.add(
                &[key("proxy"), key("path_prefixes")],
                "path_prefix and path_prefixes exclude each other: one prefix is \
                 path_prefix = \"/api\", several are path_prefixes = [\"/api\", \"/admin\"]",
            );
        }
        if list.is_empty() {
            e.add(
                &[key("proxy"), key("path_prefixes")],
                "path_prefixes is empty: give at least one prefix, or remove it",
            );
        }
        for (i, prefix) in list.iter().enumerate() {
            if !prefix.starts_with('/') || prefix.trim_end_matches('/').is_empty() {
                e.add(
                    &[key("proxy"), key("path_prefixes"), Seg::Index(i)],
                    format!("path prefix \"{prefix}\" must start with / and name a path"),
                );
            }
        }
    }
    check_rate_limit(p, e);
    if let Some(c) = &p.canonical_host {
        let mut hosts: Vec<&String> = p.host.iter().collect();
        hosts.extend(p.hosts.iter().flatten());
        if c.starts_with("*.") || !hosts.iter().any(|h| h.eq_ignore_ascii_case(c)) {
            e.add(
                &[key("proxy"), key("canonical_host")],
                format!(
                    "canonical_host \"{c}\" must be one of proxy.host / proxy.hosts (an exact \
                     name): requests for the others are redirected to it"
                ),
            );
        }
    }
    if p.error_pages_path
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        e.add(
            &[key("proxy"), key("error_pages_path")],
            "error_pages_path is empty: give the directory of 502.html, 503.html, 504.html \
             and maintenance.html, or remove it",
        );
    }
}

fn check_rate_limit(p: &ProxyConfig, e: &mut Errors) {
    let Some(r) = &p.rate_limit else {
        return;
    };
    let at = |k: &'static str| [key("proxy"), key("rate_limit"), key(k)];
    if r.requests == 0 {
        e.add(&at("requests"), "requests must be at least 1");
    }
    if r.per.is_some_and(|d| d.0 < Duration::from_millis(1)) {
        e.add(&at("per"), "per must be at least 1ms");
    }
    if r.burst == Some(0) {
        e.add(
            &at("burst"),
            "burst must be at least 1 (it is how many requests a client may send at once; \
             leave it out for `requests`)",
        );
    }
    if let Some(by) = &r.by {
        if let Err(why) = dhow_proxy_api::RateKey::parse(by) {
            e.add(&at("by"), why);
        }
    }
}
