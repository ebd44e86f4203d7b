//! `[proxy]`'s boot settings: the published ports (`[HTTP]` or `[HTTP, HTTPS]`, no port
//! twice, the metrics port apart from both), the bind addresses (IP addresses), and the log
//! size cap (Docker's `max-size`: a number with k, m or g).

use super::super::locate::{key, Seg};
use super::super::schema::ProxyConfig;
use super::Errors;

pub(super) fn check(p: &ProxyConfig, e: &mut Errors) {
    let mut ports: Vec<u16> = Vec::new();
    if let Some(publish) = &p.publish {
        if publish.is_empty() || publish.len() > 2 {
            e.add(
                &[key("proxy"), key("publish")],
                "publish is [HTTP_PORT] or [HTTP_PORT, HTTPS_PORT], like [80, 443]",
            );
        }
        ports.extend(publish.iter().take(2));
    }
    if let Some(m) = p.metrics_port {
        ports.push(m);
    }
    if ports.contains(&0) {
        e.add(&[key("proxy")], "the proxy's ports must be 1-65535");
    }
    let mut seen = ports.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != ports.len() {
        e.add(
            &[key("proxy")],
            "publish and metrics_port name the same host port twice",
        );
    }
    for (i, a) in p.bind.iter().flatten().enumerate() {
        if a.trim().parse::<std::net::IpAddr>().is_err() {
            e.add(
                &[key("proxy"), key("bind"), Seg::Index(i)],
                format!("\"{a}\" is not an IP address of the host (like 10.0.0.5)"),
            );
        }
    }
    if let Some(size) = &p.log_max_size {
        if !log_size_ok(size) {
            e.add(
                &[key("proxy"), key("log_max_size")],
                format!("log_max_size \"{size}\" must be a size like 10m, 500k or 1g"),
            );
        }
    }
}

fn log_size_ok(s: &str) -> bool {
    let digits = s.trim_end_matches(['k', 'm', 'g']);
    s.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u64>().is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_sizes_are_docker_sizes() {
        for ok in ["10m", "500k", "1g", "2048"] {
            assert!(super::log_size_ok(ok), "{ok}");
        }
        for bad in ["", "m", "10mb", "0m", "ten", "10 m", "-1m"] {
            assert!(!super::log_size_ok(bad), "{bad}");
        }
    }
}
