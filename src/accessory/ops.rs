//! An accessory's lifecycle on one host: boot (image, files, directories, container; skipped
//! when it already runs), reboot (a new container from the current config; data kept), start,
//! stop, remove (container, image when unused, uploaded files; data directories and named
//! volumes are kept and named, because nothing dhow does should lose data).

use super::image::{deliver, Delivered};
use super::{place, AccessorySettings};
use crate::docker::network::{self, NETWORK};
use crate::docker::{containers, images, logs};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::image::pull::RegistryAccess;
use std::time::Duration;

/// How long an accessory gets to exit after SIGTERM (databases flush on the way out).
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long it must keep running after start to count as up (or be healthy, with a check).
const SETTLE: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(120);

/// What `boot` found and did.
#[derive(Debug)]
pub enum Booted {
    AlreadyRunning,
    /// The container existed, stopped; it was started.
    Started,
    /// A new container: how its image came, what was placed on the host.
    Created {
        delivered: Delivered,
        placed: Vec<String>,
    },
}

/// Is the accessory's container there, and running?
pub async fn state(host: &HostConn, a: &AccessorySettings) -> Option<bool> {
    containers::running(&host.docker, &a.container).await
}

/// Boot the accessory unless it runs already.
pub async fn boot(
    host: &HostConn,
    a: &AccessorySettings,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
) -> anyhow::Result<Booted> {
    match state(host, a).await {
        Some(true) => Ok(Booted::AlreadyRunning),
        Some(false) => {
            start(host, a).await?;
            Ok(Booted::Started)
        }
        None => {
            let (delivered, placed) = create(host, a, registry, log).await?;
            Ok(Booted::Created { delivered, placed })
        }
    }
}

/// Replace the container with a new one from the current config (files uploaded again).
pub async fn reboot(
    host: &HostConn,
    a: &AccessorySettings,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
) -> anyhow::Result<(Delivered, Vec<String>)> {
    containers::stop(&host.docker, &a.container, STOP_GRACE).await?;
    containers::remove(&host.docker, &a.container).await?;
    create(host, a, registry, log).await
}

/// Start the stopped container and wait until it stays up.
pub async fn start(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<()> {
    containers::start(&host.docker, &a.container).await?;
    settle(host, a).await
}

/// Stop the container (it stays, with its data, until `start`).
pub async fn stop(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<()> {
    containers::stop(&host.docker, &a.container, STOP_GRACE).await
}

/// What `remove` kept.
#[derive(Debug, Default)]
pub struct Kept {
    pub directories: Vec<String>,
    pub volumes: Vec<String>,
}

/// Remove the container, its image when nothing else uses it, and the uploaded files.
pub async fn remove(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<Kept> {
    containers::stop(&host.docker, &a.container, STOP_GRACE).await?;
    containers::remove(&host.docker, &a.container).await?;
    // Refused (and left alone) while another container uses the image.
    let _ = images::remove(&host.docker, &a.image).await;
    let home = place::home(host.shell.as_ref()).await?;
    let directories = place::remove_files(host.shell.as_ref(), a, &home).await?;
    Ok(Kept {
        directories,
        volumes: a.named_volumes(),
    })
}

async fn create(
    host: &HostConn,
    a: &AccessorySettings,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
) -> anyhow::Result<(Delivered, Vec<String>)> {
    if a.network == NETWORK {
        network::ensure(&host.docker).await?;
    }
    let delivered = deliver(host, &a.image, registry, log).await?;
    let home = place::home(host.shell.as_ref()).await?;
    let placed = place::put(host.shell.as_ref(), a, &home).await?;
    let body = a.create_body(&home)?;
    containers::create(
        &host.docker,
        &a.container,
        body,
        &format!("create container {}", a.container),
    )
    .await?;
    start(host, a).await?;
    Ok((delivered, placed))
}

/// Wait until the container stays up; if it does not, say why with its last log lines.
async fn settle(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<()> {
    if let Err(e) = containers::wait_steady(&host.docker, &a.container, SETTLE, DEADLINE).await {
        let logs = logs::logs_tail(&host.docker, &a.container, 20).await;
        let logs = logs.trim_end();
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: accessory {} did not stay up: {e:#}{}",
                host.name,
                a.name,
                if logs.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n  its last log lines:\n    {}",
                        logs.replace('\n', "\n    ")
                    )
                }
            ),
        ));
    }
    Ok(())
}
