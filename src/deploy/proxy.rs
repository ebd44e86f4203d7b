//! The proxy on a host, as the deploy needs it: make sure the `dhow-proxy` container runs
//! (booting it from an image delivered by dhow itself when absent), and ask it to switch a
//! service to a new target through its control socket.

use super::container::NETWORK;
use super::engine::{self, docker_message};
use super::host::HostConn;
use super::network;
use crate::error::{fail, Kind};
use crate::proxy_control::{self, DeployRequest, HOST_SOCKET, HOST_SOCKET_DIR};
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::future::BoxFuture;
use hyper::Method;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The proxy container's name on every host.
pub const CONTAINER: &str = "dhow-proxy";
/// Its state volume.
pub const STATE_VOLUME: &str = "dhow-proxy-state";

/// The proxy image tag this dhow release runs.
pub fn image_tag() -> String {
    format!("dhow-proxy:{}", env!("CARGO_PKG_VERSION"))
}

/// What `ensure` did.
#[derive(Debug, PartialEq)]
pub enum Ensured {
    AlreadyRunning,
    Started,
    Booted,
}

/// Make sure the proxy container runs on the host. `load_image` delivers the proxy image when
/// the host does not have it.
pub async fn ensure(
    host: &HostConn,
    publish_ports: &[(u16, u16)],
    load_image: impl FnOnce() -> BoxFuture<'static, anyhow::Result<()>>,
) -> anyhow::Result<Ensured> {
    network::ensure(&host.docker).await?;
    let tag = image_tag();
    let ensured = match host.docker.inspect_container(CONTAINER, None).await {
        Ok(info) if info.state.as_ref().and_then(|s| s.running) == Some(true) => {
            Ensured::AlreadyRunning
        }
        Ok(_) => {
            engine::start(&host.docker, CONTAINER).await?;
            Ensured::Started
        }
        Err(_) => {
            if host.docker.inspect_image(&tag).await.is_err() {
                load_image().await?;
            }
            match boot(host, &tag, publish_ports).await {
                Ok(()) => Ensured::Booted,
                // Another deploy (another service) booted it a moment ago.
                Err(e) if format!("{e:#}").contains("is already in use") => Ensured::AlreadyRunning,
                Err(e) => return Err(e),
            }
        }
    };
    wait_ready(host, Duration::from_secs(30)).await?;
    Ok(ensured)
}

/// Create and start the proxy container.
pub async fn boot(host: &HostConn, tag: &str, publish_ports: &[(u16, u16)]) -> anyhow::Result<()> {
    let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for (host_port, container_port) in publish_ports {
        ports.insert(
            format!("{container_port}/tcp"),
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some(host_port.to_string()),
            }]),
        );
    }
    let body = ContainerCreateBody {
        image: Some(tag.to_string()),
        labels: Some(HashMap::from([
            ("dhow.proxy".to_string(), "true".to_string()),
            (
                "dhow.proxy.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ])),
        exposed_ports: Some(
            publish_ports
                .iter()
                .map(|(_, c)| format!("{c}/tcp"))
                .collect(),
        ),
        host_config: Some(HostConfig {
            network_mode: Some(NETWORK.into()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            binds: Some(vec![
                format!("{HOST_SOCKET_DIR}:/run/dhow-proxy"),
                format!("{STATE_VOLUME}:/var/lib/dhow-proxy"),
            ]),
            port_bindings: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default()
        .name(CONTAINER)
        .build();
    host.docker
        .create_container(Some(opts), body)
        .await
        .map_err(|e| {
            fail(
                Kind::Remote,
                format!(
                    "{}: create the proxy container: {}",
                    host.name,
                    docker_message(&e)
                ),
            )
        })?;
    host.docker.start_container(CONTAINER, None).await.map_err(|e| {
        fail(
            Kind::Remote,
            format!(
                "{}: start the proxy container: {} (is another program using port 80 or 443 on the host?)",
                host.name,
                docker_message(&e)
            ),
        )
    })?;
    Ok(())
}

/// Wait until the proxy answers on its control socket.
pub async fn wait_ready(host: &HostConn, within: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let last = match host.shell.open_unix(HOST_SOCKET).await {
            Ok(stream) => {
                match proxy_control::call(
                    stream,
                    Method::GET,
                    "/v1/health",
                    None,
                    Duration::from_secs(5),
                )
                .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("{e:#}"),
                }
            }
            Err(e) => format!("{e:#}"),
        };
        if start.elapsed() > within {
            let logs = engine::logs_tail(&host.docker, CONTAINER, 20).await;
            return Err(fail(
                Kind::Remote,
                format!(
                    "{}: dhow-proxy did not answer on {HOST_SOCKET} within {}s ({last}); its last log lines:\n{}",
                    host.name,
                    within.as_secs(),
                    logs.trim_end()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Ask the proxy to health-check `req.target` and switch `service` to it; returns after the
/// switch and the drain (with the proxy's answer), or with its reason for refusing.
pub async fn deploy(
    host: &HostConn,
    service: &str,
    req: &DeployRequest,
) -> anyhow::Result<serde_json::Value> {
    let stream = host.shell.open_unix(HOST_SOCKET).await?;
    let deadline = Duration::from_millis(req.deploy_timeout_ms + req.drain_timeout_ms)
        + Duration::from_secs(30);
    let body = serde_json::to_value(req)?;
    let answer = proxy_control::call(
        stream,
        Method::POST,
        &proxy_control::service_path(service, Some("deploy")),
        Some(body),
        deadline,
    )
    .await?;
    Ok(answer)
}

/// Send a simple control request (pause, stop, resume, remove, list) to the host's proxy.
pub async fn control(
    host: &HostConn,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let stream = host.shell.open_unix(HOST_SOCKET).await?;
    proxy_control::call(stream, method, path, body, Duration::from_secs(30)).await
}
