//! The access log: one JSON line on stdout per finished request, written the same way by both
//! HTTP paths.

use std::time::Instant;

/// One request's log line.
pub struct Entry<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub started: Instant,
    pub target: &'a str,
    pub id: &'a str,
}

/// Print one JSON line for a finished request.
pub fn write(r: &Entry<'_>) {
    let line = serde_json::json!({
        "method": r.method, "host": r.host, "path": r.path,
        "status": r.status, "bytes": r.bytes,
        "duration_ms": r.started.elapsed().as_secs_f64() * 1000.0,
        "target": r.target,
        "request_id": r.id,
    });
    println!("{line}");
}
