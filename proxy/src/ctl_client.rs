//! The `dhow-proxy` client subcommands' side of the control socket: one request and its
//! answer printed, and the deploy flags of a service's own limits, buffering and traffic
//! settings.

use anyhow::Context;
use dhow_proxy::limits::parse_duration;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::time::Duration;

/// A service's own response timeout, body limits and buffering (the proxy's flags apply to
/// whatever is not given).
#[derive(clap::Args)]
pub struct ServiceLimitArgs {
    /// How long the target has to start its response (longer: 504); default: the proxy's
    /// --response-timeout.
    #[arg(long, value_parser = parse_duration)]
    response_timeout: Option<Duration>,
    /// Read each request body whole before the request goes to the target.
    #[arg(long)]
    buffer_requests: bool,
    /// Read each response body whole before any of it goes to the client.
    #[arg(long)]
    buffer_responses: bool,
    /// Largest request body in bytes (larger: 413; 0 = no limit); default: the proxy's
    /// --max-body-bytes.
    #[arg(long)]
    max_request_body: Option<u64>,
    /// Largest buffered response body in bytes (larger: 502; 0 = no limit).
    #[arg(long)]
    max_response_body: Option<u64>,
    /// Largest buffered body held in memory, in bytes (larger: 413 or 502; default 1 MiB).
    #[arg(long)]
    buffer_memory: Option<u64>,
    /// Several path prefixes routed to the service (comma-separated; instead of
    /// --path-prefix).
    #[arg(long, value_delimiter = ',', conflicts_with = "path_prefix")]
    path_prefixes: Vec<String>,
    /// A token-bucket rate limit per client: REQUESTS/PERIOD, like 100/1s.
    #[arg(long, value_parser = parse_rate)]
    rate_limit: Option<(u64, Duration)>,
    /// The rate limit's bucket size (default: REQUESTS).
    #[arg(long, requires = "rate_limit")]
    rate_burst: Option<u64>,
    /// Who a client is for the rate limit: ip (default) or header:NAME.
    #[arg(long, requires = "rate_limit")]
    rate_by: Option<String>,
    /// A directory with 502.html, 503.html, 504.html and maintenance.html (any of them),
    /// served instead of the proxy's own pages.
    #[arg(long)]
    error_pages: Option<PathBuf>,
    /// Redirect (301) the service's other hosts to this one.
    #[arg(long)]
    canonical_host: Option<String>,
}

/// `100/1s`: requests per period.
fn parse_rate(s: &str) -> Result<(u64, Duration), String> {
    let (n, per) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected REQUESTS/PERIOD, like 100/1s"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("{n}: expected a number of requests"))?;
    Ok((n, parse_duration(per.trim())?))
}

impl ServiceLimitArgs {
    /// Add the fields these flags set to a deploy request's JSON; nothing when none is given.
    pub fn add_to(&self, body: &mut serde_json::Value) -> anyhow::Result<()> {
        if let Some(t) = self.response_timeout {
            body["response_timeout_ms"] = serde_json::json!(t.as_millis() as u64);
        }
        let buffering = dhow_proxy_api::Buffering {
            requests: self.buffer_requests,
            responses: self.buffer_responses,
            max_request_body: self.max_request_body,
            max_response_body: self.max_response_body,
            memory: self.buffer_memory,
        };
        if buffering != dhow_proxy_api::Buffering::default() {
            body["buffering"] = serde_json::json!(buffering);
        }
        if let (serde_json::Value::Object(t), Some(b)) =
            (serde_json::to_value(self.traffic()?)?, body.as_object_mut())
        {
            b.extend(t);
        }
        Ok(())
    }

    /// The traffic settings these flags give (error pages read from their directory).
    fn traffic(&self) -> anyhow::Result<dhow_proxy_api::Traffic> {
        let mut pages = std::collections::BTreeMap::new();
        if let Some(dir) = &self.error_pages {
            for name in dhow_proxy_api::traffic::ERROR_PAGE_NAMES {
                let file = dir.join(format!("{name}.html"));
                if file.exists() {
                    let html = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    pages.insert(name.to_string(), html);
                }
            }
        }
        Ok(dhow_proxy_api::Traffic {
            path_prefixes: self.path_prefixes.clone(),
            rate_limit: self
                .rate_limit
                .map(|(requests, per)| dhow_proxy_api::RateLimit {
                    requests,
                    per_ms: per.as_millis() as u64,
                    burst: self.rate_burst.unwrap_or(0),
                    by: self.rate_by.clone().unwrap_or_else(|| "ip".into()),
                }),
            error_pages: pages,
            canonical_host: self.canonical_host.clone(),
        })
    }
}

/// Send one request to the control socket, print the answer; an error unless it is a 2xx.
pub async fn call(
    control: &PathBuf,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::UnixStream::connect(control),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out reaching the proxy at {}", control.display()))?
    .with_context(|| {
        format!(
            "cannot reach the proxy at {} (is `dhow-proxy run` up?)",
            control.display()
        )
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "dhow-proxy")
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))?;
    let resp = tokio::time::timeout(Duration::from_secs(3600), sender.send_request(req))
        .await
        .context("no answer from the proxy")??;
    let status = resp.status();
    let text = resp.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&text));
    anyhow::ensure!(status.is_success(), "the proxy answered {status}");
    Ok(())
}
