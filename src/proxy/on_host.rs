//! The proxy on a host, as the deploy needs it: make sure the `dhow-proxy` container runs
//! (booting it from an image delivered by dhow itself when absent), and ask it to switch a
//! service to a new target through its control socket.

use crate::docker::labels::{LABEL_PROXY, LABEL_PROXY_VERSION};
use crate::docker::network::{self, NETWORK};
use crate::docker::{containers, images, logs};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::proxy::control::{self, DeployRequest, HOST_SOCKET, HOST_SOCKET_DIR};
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use hyper::Method;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use super::boot_options::BootOptions;
use super::image::ProxyImage;

/// A certificate and its key, read from the deployer's files, uploaded beside the proxy.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert_pem: String,
    pub key_pem: secrecy::SecretString,
}

/// The proxy container's name on every host.
pub const CONTAINER: &str = "dhow-proxy";
/// Its state volume.
pub const STATE_VOLUME: &str = "dhow-proxy-state";

/// The proxy image `host` runs: `proxy.image` when set, else the image dhow makes for the
/// host engine's architecture (`dhow-proxy:<version>-<binary digest>`, see proxy/image.rs).
pub async fn image_for(host: &HostConn, options: &BootOptions) -> anyhow::Result<String> {
    if let Some(image) = &options.image {
        return Ok(image.clone());
    }
    let arch = crate::docker::arch::engine(&host.docker)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{}: {e:#}", host.name)))?;
    crate::proxy::image::tag_for(&arch)
        .map_err(|e| fail(Kind::Usage, format!("{}: {e:#}", host.name)))
}

/// Put the proxy image `tag` on `host`: `proxy.image` is pulled (from the app's registry with
/// its login when it lives there, else with the Docker config's credentials) and its
/// architecture checked; dhow's own image is made for the host's architecture and loaded.
pub async fn provide_image(
    host: &HostConn,
    options: &BootOptions,
    tag: &str,
    image: &ProxyImage,
) -> anyhow::Result<()> {
    if images::present(&host.docker, tag).await {
        return Ok(());
    }
    if options.image.is_some() {
        crate::accessory::image::deliver(host, tag, image.registry.as_ref(), |_| {}).await?;
        return Ok(());
    }
    let arch = crate::docker::arch::engine(&host.docker).await?;
    image.load(&host.docker, &arch, tag).await
}

/// What `ensure` did.
#[derive(Debug, PartialEq)]
pub enum Ensured {
    AlreadyRunning,
    Started,
    Booted,
}

/// Make sure the proxy container runs on the host, booting it from `image` when absent.
pub async fn ensure(
    host: &HostConn,
    options: &BootOptions,
    image: &ProxyImage,
) -> anyhow::Result<Ensured> {
    network::ensure(&host.docker).await?;
    // An engine that cannot say whether the proxy is there gets a boot attempt, whose
    // error then says what is wrong.
    let ensured = match containers::inspect(&host.docker, CONTAINER).await {
        Ok(Some(info)) if info.state.as_ref().and_then(|s| s.running) == Some(true) => {
            Ensured::AlreadyRunning
        }
        Ok(Some(_)) => {
            containers::start(&host.docker, CONTAINER).await?;
            Ensured::Started
        }
        Ok(None) | Err(_) => {
            let tag = image_for(host, options).await?;
            provide_image(host, options, &tag, image).await?;
            match boot(host, &tag, options).await {
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

/// Where the proxy keeps certificates dhow gives it (in its state volume).
const CERT_DIR: &str = "/var/lib/dhow-proxy/certs";

/// Put a service's certificate and key into the proxy's state volume (the key with mode 0600,
/// through the Docker API: never on a command line) and return their paths in the container.
pub async fn upload_tls(
    host: &HostConn,
    name: &str,
    files: &TlsFiles,
) -> anyhow::Result<(String, String)> {
    // A proxy booted by an older dhow listens for plain HTTP only.
    let info = containers::inspect(&host.docker, CONTAINER)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{}: {e:#}", host.name)))?
        .ok_or_else(|| {
            fail(
                Kind::Remote,
                format!(
                    "{}: no {CONTAINER} container to give the certificate to",
                    host.name
                ),
            )
        })?;
    let cmd = info.config.and_then(|c| c.cmd).unwrap_or_default();
    if !cmd.iter().any(|a| a == "--https") {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: the dhow-proxy container there does not serve HTTPS (it was booted by an \
                 older dhow). Upgrade it with `dhow proxy reboot` (or `docker rm -f {CONTAINER}` \
                 on the host, then deploy again); its routes are kept in the {STATE_VOLUME} \
                 volume, and requests fail for about a second while it is replaced",
                host.name
            ),
        ));
    }
    let archive = cert_archive(name, files)
        .map_err(|e| fail(Kind::Internal, format!("packing the certificate: {e}")))?;
    containers::upload(
        &host.docker,
        CONTAINER,
        "/var/lib/dhow-proxy",
        archive,
        &format!("{}: upload the certificate to the proxy", host.name),
    )
    .await?;
    Ok((
        format!("{CERT_DIR}/{name}.crt"),
        format!("{CERT_DIR}/{name}.key"),
    ))
}

/// A tar of `certs/` with `<name>.crt` (0644) and `<name>.key` (0600).
fn cert_archive(name: &str, files: &TlsFiles) -> std::io::Result<Vec<u8>> {
    use secrecy::ExposeSecret;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut tar = tar::Builder::new(Vec::new());
    let entries: [(String, u32, &[u8]); 3] = [
        ("certs/".into(), 0o700, &[]),
        (
            format!("certs/{name}.crt"),
            0o644,
            files.cert_pem.as_bytes(),
        ),
        (
            format!("certs/{name}.key"),
            0o600,
            files.key_pem.expose_secret().as_bytes(),
        ),
    ];
    for (path, mode, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_path(&path)?;
        h.set_mode(mode);
        h.set_mtime(now);
        h.set_size(data.len() as u64);
        h.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_cksum();
        tar.append(&h, data)?;
    }
    tar.into_inner()
}

/// Remove proxy images no container uses (older releases' proxies); returns their tags.
pub async fn prune_images(host: &HostConn) -> anyhow::Result<Vec<String>> {
    let tags = images::tags(&host.docker, "dhow-proxy")
        .await
        .map_err(|e| fail(Kind::Remote, format!("{}: {e:#}", host.name)))?;
    // The image the running proxy uses is kept whatever this dhow would boot.
    let current = containers::inspect(&host.docker, CONTAINER)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.config.and_then(|c| c.image))
        .unwrap_or_default();
    let mut removed = Vec::new();
    for tag in tags.into_iter().map(|t| t.tag).filter(|t| *t != current) {
        // An image a container (running or stopped) still uses is refused: kept.
        if images::remove(&host.docker, &tag).await.is_ok() {
            removed.push(tag);
        }
    }
    Ok(removed)
}

/// The host's `docker` group ID, so the proxy's control socket is usable by a non-root deploy
/// user in that group (as the Docker socket is).
async fn docker_gid(host: &HostConn) -> Option<u32> {
    let out = host.shell.exec("getent group docker", None).await.ok()?;
    out.stdout.trim().split(':').nth(2)?.parse().ok()
}

/// Create and start the proxy container.
pub async fn boot(host: &HostConn, tag: &str, options: &BootOptions) -> anyhow::Result<()> {
    let publish_ports = &options.publish;
    let mut cmd: Vec<String> = vec!["run".into(), "--https".into(), "0.0.0.0:443".into()];
    if let Some(gid) = docker_gid(host).await {
        cmd.extend(["--control-gid".into(), gid.to_string()]);
    }
    cmd.extend(options.run_args());
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
        // HTTPS is served when a service brings a certificate (proxy.ssl_certificate).
        cmd: Some(cmd),
        labels: Some(HashMap::from([
            (LABEL_PROXY.to_string(), "true".to_string()),
            (
                LABEL_PROXY_VERSION.to_string(),
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
    containers::create(
        &host.docker,
        CONTAINER,
        body,
        &format!("{}: create the proxy container", host.name),
    )
    .await?;
    containers::start_described(
        &host.docker,
        CONTAINER,
        &format!("{}: start the proxy container", host.name),
    )
    .await
    .map_err(|e| {
        fail(
            Kind::Remote,
            format!("{e:#} (is another program using port 80 or 443 on the host?)"),
        )
    })
}

/// The control socket exists but the SSH user may not write to it.
async fn socket_denied(host: &HostConn) -> bool {
    let probe = format!("test -S {HOST_SOCKET} && ! test -w {HOST_SOCKET} && echo denied");
    host.shell
        .exec(&probe, None)
        .await
        .map(|o| o.stdout.trim() == "denied")
        .unwrap_or(false)
}

/// Wait until the proxy answers on its control socket.
pub async fn wait_ready(host: &HostConn, within: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let last = match host.shell.open_unix(HOST_SOCKET).await {
            Ok(stream) => {
                match control::call(
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
            Err(e) => {
                if socket_denied(host).await {
                    return Err(fail(
                        Kind::Remote,
                        format!(
                            "{}: the proxy's control socket {HOST_SOCKET} is there but {} may \
                             not use it: the proxy was booted by an older dhow, for root only. \
                             Upgrade it with `dhow proxy reboot` (or `docker rm -f {CONTAINER}` \
                             on the host, then deploy again); its routes are kept in the \
                             {STATE_VOLUME} volume, and requests fail for about a second while \
                             it is replaced",
                            host.name,
                            host.shell.label()
                        ),
                    ));
                }
                format!("{e:#}")
            }
        };
        if start.elapsed() > within {
            let logs = logs::stderr_tail(&host.docker, CONTAINER, 20).await;
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
    if crate::proxy::capability::needs_check(req) {
        refuse_an_old_proxy(host, req).await?;
    }
    let stream = host.shell.open_unix(HOST_SOCKET).await?;
    let deadline = Duration::from_millis(req.deploy_timeout_ms + req.drain_timeout_ms)
        + Duration::from_secs(30);
    let body = serde_json::to_value(req)?;
    let answer = control::call(
        stream,
        Method::POST,
        &control::service_path(service, Some("deploy")),
        Some(body),
        deadline,
    )
    .await?;
    Ok(answer)
}

/// A proxy from before automatic certificates or per-service limits would accept them and
/// ignore them: ask its health answer first and say so before it switches anything, so the
/// old version keeps serving.
async fn refuse_an_old_proxy(host: &HostConn, req: &DeployRequest) -> anyhow::Result<()> {
    let health = control(host, Method::GET, "/v1/health", None).await?;
    let health: dhow_proxy_api::HealthAnswer = serde_json::from_value(health).unwrap_or_default();
    let Some(what) = crate::proxy::capability::unsupported(req, &health) else {
        return Ok(());
    };
    Err(fail(
        Kind::Remote,
        format!(
            "{}: the dhow-proxy there is too old for {what}; upgrade it with `dhow proxy \
             reboot`, then deploy again (nothing was switched)",
            host.name
        ),
    ))
}

/// Send a simple control request (pause, stop, resume, remove, list) to the host's proxy.
pub async fn control(
    host: &HostConn,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let stream = host.shell.open_unix(HOST_SOCKET).await?;
    control::call(stream, method, path, body, Duration::from_secs(30)).await
}
