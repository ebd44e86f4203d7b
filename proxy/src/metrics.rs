//! Metrics in the Prometheus text format, served on their own port (`run --metrics ADDR`):
//! requests by service and status class, request durations as a histogram, requests in
//! flight, requests refused by a rate limit, deploys by outcome, rendered from the counters in `stats`.

use crate::router::Table;
use crate::stats::{ProxyStats, Stats, BUCKETS, CLASSES};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_stats(out: &mut String, service: &str, s: &Stats) {
    let svc = label(service);
    for (i, class) in CLASSES.iter().enumerate() {
        let n = s.class(i);
        if n > 0 {
            let _ = writeln!(
                out,
                "dhow_proxy_requests_total{{service=\"{svc}\",code=\"{class}\"}} {n}"
            );
        }
    }
    let mut count = 0;
    for (i, le) in BUCKETS.iter().enumerate() {
        count += s.bucket(i);
        let _ = writeln!(
            out,
            "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"{le}\"}} {count}"
        );
    }
    count += s.bucket(BUCKETS.len());
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_bucket{{service=\"{svc}\",le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_sum{{service=\"{svc}\"}} {}",
        s.sum_micros() as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "dhow_proxy_request_duration_seconds_count{{service=\"{svc}\"}} {count}"
    );
    let _ = writeln!(
        out,
        "dhow_proxy_requests_in_flight{{service=\"{svc}\"}} {}",
        s.inflight()
    );
}

/// Requests a service's rate limit refused, for the services that have one.
fn write_rate_limited(out: &mut String, table: &Table) {
    out.push_str("# HELP dhow_proxy_rate_limited_total Requests refused with 429 by the service's rate limit.\n# TYPE dhow_proxy_rate_limited_total counter\n");
    for s in table
        .services
        .iter()
        .filter(|s| s.traffic.limiter.is_some())
    {
        let _ = writeln!(
            out,
            "dhow_proxy_rate_limited_total{{service=\"{}\"}} {}",
            label(&s.name),
            s.stats.rate_limited()
        );
    }
}

/// The whole exposition.
pub fn render(table: &Table, global: &ProxyStats) -> String {
    let mut out = String::new();
    out.push_str("# HELP dhow_proxy_requests_total Requests answered, by service and status class.\n# TYPE dhow_proxy_requests_total counter\n");
    out.push_str("# HELP dhow_proxy_request_duration_seconds Time from request to response head.\n# TYPE dhow_proxy_request_duration_seconds histogram\n");
    out.push_str("# HELP dhow_proxy_requests_in_flight Requests being answered now.\n# TYPE dhow_proxy_requests_in_flight gauge\n");
    for s in &table.services {
        write_stats(&mut out, &s.name, &s.stats);
    }
    write_stats(&mut out, "", &global.unrouted);
    write_rate_limited(&mut out, table);
    out.push_str("# HELP dhow_proxy_deploys_total Deploys (target switches) by outcome.\n# TYPE dhow_proxy_deploys_total counter\n");
    let _ = writeln!(
        out,
        "dhow_proxy_deploys_total{{result=\"ok\"}} {}",
        global.deploys_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "dhow_proxy_deploys_total{{result=\"failed\"}} {}",
        global.deploys_failed.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "dhow_proxy_services {}", table.services.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_is_cumulative() {
        let s = Stats::default();
        s.observe(200, Duration::from_millis(3));
        s.observe(503, Duration::from_millis(300));
        // Counted on another thread (another shard): the sums see it.
        std::thread::scope(|t| {
            t.spawn(|| s.observe(200, Duration::from_secs(30)));
        });
        let held = s.start_here();
        let mut out = String::new();
        write_stats(&mut out, "a\"b", &s);
        assert!(out.contains("dhow_proxy_requests_total{service=\"a\\\"b\",code=\"2xx\"} 2"));
        assert!(out.contains("code=\"5xx\"} 1"));
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"0.5\"} 2"));
        assert!(out.contains("le=\"10\"} 2"));
        assert!(out.contains("le=\"+Inf\"} 3"));
        assert!(out.contains("_count{service=\"a\\\"b\"} 3"), "{out}");
        assert!(out.contains("in_flight{service=\"a\\\"b\"} 1"), "{out}");
        drop(held);
    }
}
