//! The proxy on a host, as the deploy needs it: make sure the `dhow-proxy` container runs
//! (booting it from an image delivered by dhow itself when absent), and ask it to switch a
//! service to a new target through its control socket.

use crate::docker::network;
use crate::docker::{containers, images};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::proxy::control::{self, DeployRequest, HOST_SOCKET};
use hyper::Method;
use std::time::Duration;

pub use super::boot_options::BootOptions;
use super::image::ProxyImage;

/// A certificate and its key, read from the deployer's files, uploaded beside the proxy.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert_pem: String,
    pub key_pem: secrecy::SecretString,
}

use super::layout;
pub use super::layout::{CONTAINER, PORTS_CONTAINER, STATE_VOLUME};
pub use super::ready::{wait_booted, wait_ready};

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
    /// It ran an older proxy build: replaced with this dhow's, with no gap.
    Upgraded,
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
        Ok(Some(info)) if layout::running(&info) => {
            if super::replace::upgrade_if_older(host, &info, options, image).await? {
                Ensured::Upgraded
            } else {
                Ensured::AlreadyRunning
            }
        }
        Ok(Some(info)) => {
            if layout::is_held(&info) {
                let tag = layout::image_of(&info).unwrap_or_default();
                ensure_holder(host, &tag, options, false).await?;
            }
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
    if ensured == Ensured::AlreadyRunning {
        wait_ready(host, Duration::from_secs(30)).await?;
    } else {
        wait_booted(host, Duration::from_secs(30)).await?;
    }
    Ok(ensured)
}

/// What `ensure_holder` found.
#[derive(Debug, PartialEq)]
pub enum Holder {
    Running,
    Started,
    Created,
}

/// Make sure the port holder runs (created from `tag` when absent). `exact`: a holder that
/// publishes other ports than `options` say is an error (the caller recreates it); otherwise
/// a running holder is kept whatever it publishes (another app's config booted it).
pub async fn ensure_holder(
    host: &HostConn,
    tag: &str,
    options: &BootOptions,
    exact: bool,
) -> anyhow::Result<Holder> {
    match containers::inspect(&host.docker, PORTS_CONTAINER).await? {
        Some(info) if exact && layout::holder_key_of(&info) != Some(options.holder_key()) => {
            Err(fail(
                Kind::Remote,
                format!(
                    "{}: the proxy's port holder publishes other ports",
                    host.name
                ),
            ))
        }
        Some(info) if layout::running(&info) => Ok(Holder::Running),
        Some(_) => {
            containers::start(&host.docker, PORTS_CONTAINER).await?;
            Ok(Holder::Started)
        }
        None => {
            let created = containers::create(
                &host.docker,
                PORTS_CONTAINER,
                layout::holder_body(tag, options),
                &format!("{}: create the proxy's port holder", host.name),
            )
            .await;
            match created {
                // Another deploy created it a moment ago.
                Err(e) if format!("{e:#}").contains("is already in use") => {
                    return Ok(Holder::Running)
                }
                other => other?,
            }
            containers::start_described(
                &host.docker,
                PORTS_CONTAINER,
                &format!("{}: start the proxy's port holder", host.name),
            )
            .await
            .map_err(|e| {
                let ports: Vec<String> = options.web_ports().iter().map(u16::to_string).collect();
                fail(
                    Kind::Remote,
                    format!(
                        "{e:#} (is another program using port {} on the host?)",
                        ports.join(" or ")
                    ),
                )
            })?;
            Ok(Holder::Created)
        }
    }
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
    if layout::is_held(&info) {
        let holder = containers::inspect(&host.docker, PORTS_CONTAINER).await?;
        let https = holder
            .and_then(|h| h.config.and_then(|c| c.cmd))
            .is_some_and(|cmd| cmd.iter().any(|a| a.starts_with("https=")));
        if !https {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{}: the proxy there does not publish an HTTPS port (`proxy.publish` has                      one port); publish one, e.g. publish = [80, 443], and `dhow proxy reboot`",
                    host.name
                ),
            ));
        }
    }
    let cmd = info.config.and_then(|c| c.cmd).unwrap_or_default();
    if !cmd.iter().any(|a| a == "--https" || a == "--listen-from") {
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

/// Remove the proxy's containers from the host (the state volume stays).
pub async fn remove_all(host: &HostConn) -> anyhow::Result<()> {
    for name in [
        CONTAINER,
        layout::NEXT_CONTAINER,
        layout::OLD_CONTAINER,
        PORTS_CONTAINER,
    ] {
        containers::remove(&host.docker, name).await?;
    }
    Ok(())
}

/// Create and start the proxy (the port holder first, when absent) as `name`.
pub async fn boot_as(
    host: &HostConn,
    name: &str,
    tag: &str,
    options: &BootOptions,
) -> anyhow::Result<()> {
    ensure_holder(host, tag, options, false).await?;
    let gid = docker_gid(host).await;
    containers::create(
        &host.docker,
        name,
        layout::proxy_body(tag, options, gid),
        &format!("{}: create the proxy container", host.name),
    )
    .await?;
    containers::start_described(
        &host.docker,
        name,
        &format!("{}: start the proxy container", host.name),
    )
    .await
}

/// Create and start the proxy container (and its port holder when absent).
pub async fn boot(host: &HostConn, tag: &str, options: &BootOptions) -> anyhow::Result<()> {
    boot_as(host, CONTAINER, tag, options).await
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
    control_at(host, HOST_SOCKET, method, path, body).await
}

/// A control request to the proxy answering on `socket` (the usual one, or a replacement's
/// while it stands by).
pub async fn control_at(
    host: &HostConn,
    socket: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let stream = host.shell.open_unix(socket).await?;
    control::call(stream, method, path, body, Duration::from_secs(30)).await
}
