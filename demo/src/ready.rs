//! Readiness distinct from liveness: `/health/ready` answers 503 until `READY_DELAY` seconds
//! (a fraction allowed) after the process started, and while the Redis that `REDIS_HOST`
//! names does not answer PING, so an app that is alive but still warming up can be told apart
//! from one that can take traffic.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Record the process's start (called once from main, before listening).
pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

fn delay() -> Duration {
    std::env::var("READY_DELAY")
        .ok()
        .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

/// The answer of `/health/ready`: (status, body).
pub fn check() -> (u16, String) {
    let since = STARTED.get().map(Instant::elapsed).unwrap_or_default();
    let delay = delay();
    if since < delay {
        let left = (delay - since).as_secs_f64();
        return (
            503,
            format!("warming up ({left:.1}s left of READY_DELAY)\n"),
        );
    }
    if std::env::var("REDIS_HOST").is_ok() {
        if let Err(e) = crate::redis::ping() {
            return (503, format!("redis: {e}\n"));
        }
    }
    (200, "ready\n".into())
}
