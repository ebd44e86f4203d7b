//! A minimal HTTP/1.1 server loop: parse a request head, skip its body, answer, keep the
//! connection alive unless the client asks to close.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The version this process reports.
pub fn version() -> String {
    std::env::var("DHOW_VERSION")
        .or_else(|_| std::env::var("APP_VERSION"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The name this process answers `/` with (`$APP_NAME`, default `demo`): an example running
/// the demo as two apps (a client and an API) tells them apart by it.
pub fn name() -> String {
    std::env::var("APP_NAME").unwrap_or_else(|_| "demo".into())
}

pub fn serve(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let version = version();
    let name = name();
    let healthy = std::env::var("DEMO_HEALTHY").as_deref() != Ok("false");
    let fail_percent: u64 = std::env::var("DEMO_FAIL_PERCENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut content_length = 0usize;
        let mut close = false;
        let mut forwarded_for = String::new();
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                if name == "content-length" {
                    content_length = value.parse().unwrap_or(0);
                } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                    close = true;
                } else if name == "x-forwarded-for" {
                    forwarded_for = value.to_string();
                }
            }
        }
        if content_length > 0 {
            let mut body = vec![0u8; content_length.min(1 << 20)];
            let mut left = content_length;
            while left > 0 {
                let n = left.min(body.len());
                if reader.read_exact(&mut body[..n]).is_err() {
                    return;
                }
                left -= n;
            }
        }
        let started = Instant::now();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let (status, body) = match path {
            "/up" | "/health/live" if healthy => (200, "ok\n".to_string()),
            "/up" | "/health/live" => (503, "unhealthy (DEMO_HEALTHY=false)\n".to_string()),
            "/health/ready" => crate::ready::check(),
            "/cache" => match crate::redis::incr("hits") {
                Ok(n) => (200, format!("{name} {version} hits {n}\n")),
                Err(e) => (503, format!("redis: {e}\n")),
            },
            "/slow" => {
                let ms: u64 = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("ms="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                std::thread::sleep(Duration::from_millis(ms));
                (200, format!("demo {version} slept {ms}ms\n"))
            }
            // What the proxy passed on: the client address it vouches for.
            "/forwarded" => (200, format!("x-forwarded-for: {forwarded_for}\n")),
            // The env vars named in DEMO_ECHO_ENV (comma-separated), one `NAME=value` a line:
            // how an example shows which secret its destination's container got.
            "/env" => (200, echo_env()),
            "/db" => {
                let sql = std::env::var("DEMO_DB_QUERY")
                    .unwrap_or_else(|_| "SELECT note FROM notes ORDER BY id".into());
                match crate::pg::query_from_env(&sql) {
                    Ok(rows) => (
                        200,
                        rows.iter()
                            .map(|r| {
                                let cells: Vec<&str> =
                                    r.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
                                format!("{}\n", cells.join("\t"))
                            })
                            .collect(),
                    ),
                    Err(e) => (503, format!("database: {e}\n")),
                }
            }
            // A version that passes its health check but fails some of its requests.
            "/" if failing(fail_percent) => (500, format!("{name} {version} failed\n")),
            _ => (200, format!("{name} {version}\n")),
        };
        let reason = match status {
            200 => "OK",
            500 => "Internal Server Error",
            _ => "Service Unavailable",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Demo-Version: {version}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
        println!(
            "{{\"method\":\"{method}\",\"path\":\"{path}\",\"status\":{status},\"version\":\"{version}\",\"ms\":{}}}",
            started.elapsed().as_millis()
        );
        if close {
            return;
        }
    }
}

/// With `DEMO_FAIL_PERCENT=P`: P of every 100 requests to `/` answer 500 (spread evenly).
fn failing(percent: u64) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEEN: AtomicU64 = AtomicU64::new(0);
    percent > 0 && (SEEN.fetch_add(1, Ordering::Relaxed) * percent) % 100 < percent
}

/// `NAME=value` lines for the variables DEMO_ECHO_ENV names (nothing else is ever echoed).
fn echo_env() -> String {
    let names = std::env::var("DEMO_ECHO_ENV").unwrap_or_default();
    names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| format!("{n}={}\n", std::env::var(n).unwrap_or_default()))
        .collect()
}
