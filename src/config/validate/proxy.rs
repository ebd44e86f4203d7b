//! `[proxy]`: the app port, path prefix and health check path are well-formed, the trusted
//! proxies are IP addresses or CIDR ranges (parsed with `ipnet`, as dhow-proxy does), the TLS
//! keys agree with each other (certificate files as a pair, or automatic certificates for
//! exact DNS names, ACME settings only with those), the response timeout and connection cap
//! are not zero, and the buffering sizes belong to buffering that is on; `proxy_traffic.rs`
//! checks the traffic keys (path prefixes, rate limit, canonical host, error pages).

use super::super::locate::{key, Seg};
use super::super::schema::{Config, ProxyConfig};
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    let Some(p) = &c.proxy else {
        return;
    };
    if p.app_port == Some(0) {
        e.add(&[key("proxy"), key("app_port")], "app_port must be 1-65535");
    }
    if let Some(prefix) = &p.path_prefix {
        if !prefix.starts_with('/') {
            e.add(
                &[key("proxy"), key("path_prefix")],
                format!("path_prefix \"{prefix}\" must start with /"),
            );
        }
    }
    check_tls(p, e);
    super::proxy_boot::check(p, e);
    super::proxy_traffic::check(p, e);
    for (i, item) in p.trusted_proxies.iter().flatten().enumerate() {
        let t = item.trim();
        if t.parse::<ipnet::IpNet>().is_err() && t.parse::<std::net::IpAddr>().is_err() {
            e.add(
                &[key("proxy"), key("trusted_proxies"), Seg::Index(i)],
                format!("\"{item}\" is not an IP address or a CIDR range like 10.0.0.0/8"),
            );
        }
    }
    check_limits(p, e);
    if let Some(path) = p.healthcheck.as_ref().and_then(|h| h.path.as_ref()) {
        if !path.starts_with('/') {
            e.add(
                &[key("proxy"), key("healthcheck"), key("path")],
                format!("health check path \"{path}\" must start with /"),
            );
        }
    }
}

/// `response_timeout`, `image`, `max_connections`, `buffering`.
fn check_limits(p: &ProxyConfig, e: &mut Errors) {
    if p.response_timeout.is_some_and(|t| t.0.is_zero()) {
        e.add(
            &[key("proxy"), key("response_timeout")],
            "response_timeout must be more than 0",
        );
    }
    if let Some(image) = &p.image {
        if image.trim().is_empty() || image.contains(char::is_whitespace) {
            e.add(
                &[key("proxy"), key("image")],
                "image must be an image reference such as registry.example.com/ops/dhow-proxy:1.2",
            );
        }
    }
    if p.max_connections == Some(0) {
        e.add(
            &[key("proxy"), key("max_connections")],
            "max_connections must be at least 1",
        );
    }
    let Some(b) = &p.buffering else {
        return;
    };
    let at = |k: &'static str| [key("proxy"), key("buffering"), key(k)];
    let (requests, responses) = (b.requests == Some(true), b.responses == Some(true));
    if b.memory == Some(0) {
        e.add(&at("memory"), "memory must be at least 1 (bytes)");
    }
    if b.memory.is_some() && !requests && !responses {
        e.add(
            &at("memory"),
            "memory is the size of a buffered body: set requests = true or responses = true, \
             or remove it",
        );
    }
    if b.max_response_body.is_some() && !responses {
        e.add(
            &at("max_response_body"),
            "max_response_body applies to buffered responses (a streamed one cannot be \
             refused once it started): set responses = true, or remove it",
        );
    }
}

/// `ssl`, `ssl_certificate`, `ssl_private_key`, `acme_email`, `acme_directory`.
fn check_tls(p: &ProxyConfig, e: &mut Errors) {
    match (&p.ssl_certificate, &p.ssl_private_key) {
        (Some(_), None) => e.add(
            &[key("proxy"), key("ssl_certificate")],
            "ssl_certificate needs ssl_private_key (the PEM key file) beside it",
        ),
        (None, Some(_)) => e.add(
            &[key("proxy"), key("ssl_private_key")],
            "ssl_private_key needs ssl_certificate (the PEM certificate file) beside it",
        ),
        (None, None) if p.ssl == Some(true) => check_acme_names(p, e),
        _ => {}
    }
    if (p.acme_email.is_some() || p.acme_directory.is_some())
        && !(p.ssl == Some(true) && p.ssl_certificate.is_none())
    {
        e.add(
            &[key("proxy"), key("acme_email")],
            "acme_email / acme_directory are for automatic certificates: set ssl = true \
             (without certificate files) or remove them",
        );
    }
    if p.ssl == Some(false) && p.ssl_certificate.is_some() {
        e.add(
            &[key("proxy"), key("ssl")],
            "ssl = false contradicts ssl_certificate: remove one of them",
        );
    }
}

/// Automatic certificates: each host name needs to be an exact DNS name.
fn check_acme_names(p: &ProxyConfig, e: &mut Errors) {
    let mut names: Vec<&String> = p.host.iter().collect();
    names.extend(p.hosts.iter().flatten());
    if names.is_empty() {
        e.add(
            &[key("proxy"), key("ssl")],
            "ssl = true without certificate files gets certificates from Let's \
             Encrypt (ACME) and needs the app's host names: set proxy.host or \
             proxy.hosts",
        );
    }
    for name in names {
        if name.starts_with("*.") || name.parse::<std::net::IpAddr>().is_ok() {
            e.add(
                &[key("proxy"), key("ssl")],
                format!(
                    "{name}: automatic certificates (ACME HTTP-01) need exact DNS \
                     names; for wildcards or IP addresses give ssl_certificate and \
                     ssl_private_key"
                ),
            );
        }
    }
}
