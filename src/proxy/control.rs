//! A client for dhow-proxy's control API (HTTP+JSON on the proxy's unix socket), spoken over
//! any byte stream: in practice a `direct-streamlocal` channel of the host's SSH connection to
//! /var/run/dhow-proxy/control.sock. One request per stream; every call has a deadline.

use crate::error::{fail, Kind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the proxy's control socket is on every host (bind-mounted into the proxy container).
pub const HOST_SOCKET_DIR: &str = "/var/run/dhow-proxy";
pub const HOST_SOCKET: &str = "/var/run/dhow-proxy/control.sock";

/// Health check settings for a deploy.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

/// What `deploy` asks the proxy to do for one service.
#[derive(Debug, Clone, Serialize)]
pub struct DeployRequest {
    pub target: String,
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    pub strip_prefix: bool,
    pub health: Health,
    pub deploy_timeout_ms: u64,
    pub drain_timeout_ms: u64,
    /// Paths, inside the proxy container, of the certificate and key for the hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// The proxy obtains certificates for the hosts (ACME).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub acme: bool,
}

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

/// Path of a service's endpoint in the control API.
pub fn service_path(service: &str, action: Option<&str>) -> String {
    match action {
        Some(a) => format!("/v1/services/{service}/{a}"),
        None => format!("/v1/services/{service}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            service_path("demo", Some("deploy")),
            "/v1/services/demo/deploy"
        );
        assert_eq!(service_path("demo", None), "/v1/services/demo");
    }
}
