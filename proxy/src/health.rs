//! Health checks: GET the target's health path until it answers 2xx or a deadline passes.

use crate::router::HealthSpec;
use crate::upstream_client::{connect_reason, UpstreamClient};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use std::time::Duration;

/// One check: Ok on 2xx, else a short reason.
pub async fn check_once(
    client: &UpstreamClient,
    addr: &str,
    spec: &HealthSpec,
) -> Result<(), String> {
    let uri = format!("http://{addr}{}", spec.path);
    let req = Request::get(&uri)
        .header("user-agent", "dhow-proxy health check")
        .body(Empty::<bytes::Bytes>::new().map_err(|e| match e {}).boxed())
        .map_err(|e| format!("bad health check URL {uri}: {e}"))?;
    let timeout = Duration::from_millis(spec.timeout_ms.max(1));
    let started = std::time::Instant::now();
    let result = check(client, req, timeout, spec).await;
    tracing::debug!(
        target = addr,
        path = %spec.path,
        ms = started.elapsed().as_millis() as u64,
        passed = result.is_ok(),
        error = result.as_ref().err().map(String::as_str),
        "health check"
    );
    result
}

async fn check(
    client: &UpstreamClient,
    req: Request<crate::body::TargetBody>,
    timeout: Duration,
    spec: &HealthSpec,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, client.request(req)).await {
        Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
        Ok(Ok(resp)) => Err(format!("GET {} answered {}", spec.path, resp.status())),
        Ok(Err(e)) => Err(format!("GET {}: {}", spec.path, connect_reason(&e))),
        Err(_) => Err(format!(
            "GET {} took longer than {}ms",
            spec.path, spec.timeout_ms
        )),
    }
}

/// Check every `interval` until healthy or `deadline`; the error carries the last reason.
pub async fn wait_healthy(
    client: &UpstreamClient,
    addr: &str,
    spec: &HealthSpec,
    deadline: Duration,
) -> Result<(), String> {
    let end = tokio::time::Instant::now() + deadline;
    let interval = Duration::from_millis(spec.interval_ms.max(10));
    loop {
        let last = match check_once(client, addr, spec).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if tokio::time::Instant::now() + interval > end {
            return Err(format!(
                "target {addr} did not become healthy within {:.0}s; last check: {last}",
                deadline.as_secs_f64()
            ));
        }
        tokio::time::sleep(interval).await;
    }
}
