//! The CLI's side of the proxy's canary rollouts on one host: start one (after the proxy's
//! health check), a new share, abort (after the drain), and each side's counters; and how a
//! deploy's bake window goes there. A proxy
//! from before canaries answers "no such control endpoint": that is said as "upgrade it".

use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::proxy::control::{self, service_path};
use dhow_proxy_api::{CanaryRequest, StatsAnswer, HOST_SOCKET};
use hyper::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Start (or, for the same version, replace) the canary of `service`.
pub async fn start(host: &HostConn, service: &str, req: &CanaryRequest) -> anyhow::Result<Value> {
    let deadline = Duration::from_millis(req.deploy_timeout_ms) + Duration::from_secs(60);
    let body = serde_json::to_value(req)?;
    call(
        host,
        Method::POST,
        &service_path(service, Some("canary")),
        Some(body),
        deadline,
    )
    .await
}

/// The canary's new share of clients.
pub async fn share(host: &HostConn, service: &str, percent: f64) -> anyhow::Result<Value> {
    let path = service_path(service, Some("canary/share"));
    let body = json!({ "percent": percent });
    call(
        host,
        Method::POST,
        &path,
        Some(body),
        Duration::from_secs(30),
    )
    .await
}

/// Every client back on the stable side; answers after the canary's drain.
pub async fn abort(host: &HostConn, service: &str, drain: Duration) -> anyhow::Result<Value> {
    let path = service_path(service, Some("canary/abort"));
    let body = json!({ "drain_timeout_ms": drain.as_millis() as u64 });
    call(
        host,
        Method::POST,
        &path,
        Some(body),
        drain + Duration::from_secs(30),
    )
    .await
}

/// The service's counters, each side's with a canary; None when the proxy has no such
/// service.
pub async fn stats(host: &HostConn, service: &str) -> anyhow::Result<Option<StatsAnswer>> {
    let path = service_path(service, Some("stats"));
    match call(host, Method::GET, &path, None, Duration::from_secs(30)).await {
        Ok(v) => Ok(Some(serde_json::from_value(v)?)),
        Err(e) if format!("{e:#}").contains("(404 Not Found): no service") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The service's last bake window (`state` `none` when it had none).
pub async fn bake(host: &HostConn, service: &str) -> anyhow::Result<dhow_proxy_api::BakeStatus> {
    let path = service_path(service, Some("bake"));
    let v = call(host, Method::GET, &path, None, Duration::from_secs(30)).await?;
    Ok(serde_json::from_value(v)?)
}

async fn call(
    host: &HostConn,
    method: Method,
    path: &str,
    body: Option<Value>,
    deadline: Duration,
) -> anyhow::Result<Value> {
    let stream = host.shell.open_unix(HOST_SOCKET).await?;
    match control::call(stream, method, path, body, deadline).await {
        Err(e) if format!("{e:#}").contains("no such control endpoint") => Err(fail(
            Kind::Remote,
            format!(
                "{}: the dhow-proxy there is too old for canary rollouts; upgrade it with \
                 `dhow proxy reboot` (nothing was changed)",
                host.name
            ),
        )),
        r => r,
    }
}
