//! Health checks: GET the target's health path until it answers 2xx or a deadline passes.

use crate::router::HealthSpec;
use crate::upstream_client::{connect_reason, UpstreamClient};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use std::time::Duration;

/// Check a restored target on the service's interval until it answers, then mark it ready
/// (it gets traffic from then on); ends early once it leaves its service (retired).
pub async fn until_ready(
    client: UpstreamClient,
    target: std::sync::Arc<crate::upstream::Upstream>,
    spec: HealthSpec,
) {
    while !target.is_retired() {
        if check_once(&client, &target.addr, &spec).await.is_ok() {
            target.mark_ready();
            return;
        }
        tokio::time::sleep(Duration::from_millis(spec.interval_ms.max(100))).await;
    }
}

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

/// Check every one of `addrs` at once until all are healthy; the first failure's error.
pub async fn wait_all_healthy(
    client: &UpstreamClient,
    addrs: &[String],
    spec: &HealthSpec,
    deadline: Duration,
) -> Result<(), String> {
    let checks = addrs
        .iter()
        .map(|a| wait_healthy(client, a, spec, deadline));
    let results = futures::future::join_all(checks).await;
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The active health check of a service's several targets, every `spec.interval_ms` while
/// any of them is part of a service: a target failing it is taken out of balancing, one
/// passing it is ready and put back (a restored or restarted one comes back this way).
pub async fn watch(
    client: UpstreamClient,
    replicas: std::sync::Weak<crate::replicas::Replicas>,
    spec: HealthSpec,
) {
    let interval = Duration::from_millis(spec.interval_ms.max(100));
    loop {
        let Some(r) = replicas.upgrade() else { return };
        let targets: Vec<_> = r.all.iter().filter(|t| !t.is_retired()).cloned().collect();
        drop(r);
        if targets.is_empty() {
            return;
        }
        let checks = targets.iter().map(|t| check_once(&client, &t.addr, &spec));
        for (t, result) in targets.iter().zip(futures::future::join_all(checks).await) {
            match result {
                Ok(()) => {
                    if !t.is_ready() {
                        t.mark_ready();
                    }
                    if t.set_down(false) {
                        tracing::info!(target = %t.addr, "target healthy again: balanced to");
                    }
                }
                Err(e) => {
                    if t.set_down(true) {
                        tracing::warn!(target = %t.addr, error = %e, "target unhealthy: taken out");
                    }
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
