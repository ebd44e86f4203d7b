//! Getting an accessory's image onto a host, in this order: the host already has it; it lives
//! in the app's registry (pulled with the registry login); this machine's engine has it (sent
//! over SSH like an app image, no registry needed); else the host pulls it by name (public
//! images such as `postgres:16`).

use crate::docker::{self, images};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::image::pull::{pull_on_host, RegistryAccess};

/// How the image got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    AlreadyThere,
    Pulled,
    /// Sent from this machine over SSH: this many bytes.
    Sent(u64),
}

impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivered::AlreadyThere => write!(f, "image already on the host"),
            Delivered::Pulled => write!(f, "image pulled"),
            Delivered::Sent(0) => write!(f, "image already on the host"),
            Delivered::Sent(n) => write!(f, "image sent over SSH ({:.1} MB)", *n as f64 / 1e6),
        }
    }
}

/// Make sure `host` has `image`, built for the host's architecture.
pub async fn deliver(
    host: &HostConn,
    image: &str,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
) -> anyhow::Result<Delivered> {
    let delivered = put(host, image, registry, log).await?;
    crate::docker::arch::check_image(&host.docker, &host.name, image).await?;
    Ok(delivered)
}

async fn put(
    host: &HostConn,
    image: &str,
    registry: Option<&RegistryAccess>,
    mut log: impl FnMut(&str),
) -> anyhow::Result<Delivered> {
    if images::present(&host.docker, image).await {
        return Ok(Delivered::AlreadyThere);
    }
    if let Some(r) = registry.filter(|r| r.holds(image)) {
        let forward =
            |port, local: String| async move { host.shell.forward_remote_port(port, &local).await };
        pull_on_host(&host.docker, image, r, forward, log).await?;
        return Ok(Delivered::Pulled);
    }
    if let Ok(local) = docker::connect_local().await {
        if images::present(&local, image).await {
            let sent = crate::image::transfer::copy(&local, &host.docker, image, |_| {}).await?;
            return Ok(Delivered::Sent(sent));
        }
    }
    crate::image::registry::pull(&host.docker, image, None, &mut log)
        .await
        .map_err(|e| {
            fail(
                Kind::Remote,
                format!(
                    "{}: image {image} is neither on the host nor on this machine, and the host \
                     could not pull it: {e:#}",
                    host.name
                ),
            )
        })?;
    Ok(Delivered::Pulled)
}
