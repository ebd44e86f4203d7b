//! Getting an accessory's image onto a host, in this order: the host already has it; it lives
//! in the app's registry (pulled with the registry login); this machine's engine has it (sent
//! over SSH like an app image, no registry needed); else the host pulls it by name (public
//! images such as `postgres:16`).

use crate::deploy::delivery::{in_registry, pull_from_registry};
use crate::deploy::settings::RegistrySettings;
use crate::docker::engine::timed;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;

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

/// Make sure `host` has `image`.
pub async fn deliver(
    host: &HostConn,
    image: &str,
    registry: Option<&RegistrySettings>,
    mut log: impl FnMut(&str),
) -> anyhow::Result<Delivered> {
    if timed("inspect image", host.docker.inspect_image(image))
        .await
        .is_ok()
    {
        return Ok(Delivered::AlreadyThere);
    }
    if let Some(r) = registry.filter(|r| in_registry(image, r)) {
        pull_from_registry(host, image, r, log).await?;
        return Ok(Delivered::Pulled);
    }
    if let Ok(local) = crate::image::engine::connect_local().await {
        if timed("inspect local image", local.inspect_image(image))
            .await
            .is_ok()
        {
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
