//! A client for dhow-proxy's control API (HTTP+JSON on the proxy's unix socket), spoken over
//! any byte stream: in practice a `direct-streamlocal` channel of the host's SSH connection to
//! /var/run/dhow-proxy/control.sock. One request per stream; every call has a deadline.

use crate::error::{fail, Kind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

// The wire itself (bodies, socket and endpoint paths, defaults) is dhow-proxy-api's, shared
// with the proxy; these are the names the CLI has always used for it.
/// The health check settings of a deploy (the proxy's `HealthSpec`).
pub use dhow_proxy_api::HealthSpec as Health;
pub use dhow_proxy_api::{service_path, Buffering, DeployRequest, RateLimit, Traffic, HOST_SOCKET};

/// Send one request over `stream` and return the JSON answer (or a clear error).
pub async fn call<S>(
    stream: S,
    method: Method,
    path: &str,
    body: Option<Value>,
    deadline: Duration,
) -> anyhow::Result<Value>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let work = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                fail(
                    Kind::Remote,
                    format!("proxy control socket: handshake failed: {e}"),
                )
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let bytes = match &body {
            Some(v) => Bytes::from(v.to_string()),
            None => Bytes::new(),
        };
        let req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", "dhow-proxy")
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .map_err(|e| fail(Kind::Internal, format!("bad proxy request {path}: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| fail(Kind::Remote, format!("proxy control {method} {path}: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(Kind::Remote, format!("proxy control {method} {path}: {e}")))?
            .to_bytes();
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&body).trim().to_string())
            })
        };
        if !status.is_success() {
            let msg = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            return Err(fail(
                Kind::Deploy,
                format!("proxy refused {method} {path} ({status}): {msg}"),
            ));
        }
        Ok(value)
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(fail(
            Kind::Remote,
            format!(
                "proxy control {method} {path}: no answer within {}s",
                deadline.as_secs()
            ),
        )),
    }
}
