//! An accessory's lifecycle on one host: boot (image, files, directories, container; skipped
//! when it already runs), reboot (a new container from the current config; data kept, the
//! anonymous volumes of the image's own VOLUMEs included), start, stop, remove (container,
//! image when unused, uploaded files; data directories and named volumes are kept and named,
//! because nothing dhow does should lose data).

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

/// Is the accessory's container there, and running? A container of that name that belongs to
/// another app's accessory (names can coincide: deploy/container.rs) is an error, never ours.
pub async fn state(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<Option<bool>> {
    let Ok(Some(info)) = containers::inspect(&host.docker, &a.container).await else {
        return Ok(None);
    };
    let labels = info
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    if let Some(why) = not_ours(a, &labels) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{}: container {} is not accessory {} of this app: {why}; \
                 rename the accessory (or the app) so their names differ",
                host.name, a.container, a.name
            ),
        ));
    }
    Ok(Some(
        info.state.as_ref().and_then(|s| s.running) == Some(true),
    ))
}

/// Why a container with these labels is not `a` (None when it is): its accessory and owner
/// labels must be `a`'s (the owner as this dhow or an older one wrote it).
pub fn not_ours(
    a: &AccessorySettings,
    labels: &std::collections::HashMap<String, String>,
) -> Option<String> {
    let name = labels.get(super::LABEL_ACCESSORY).map(String::as_str);
    let owner = labels.get(super::LABEL_OWNER).map(String::as_str);
    let legacy = crate::host::names::legacy_key(&a.owner);
    let owner_ok = owner == Some(a.owner.as_str()) || owner == Some(legacy.as_str());
    (name != Some(a.name.as_str()) || !owner_ok).then(|| {
        format!(
            "it is {} of {}",
            name.map_or("not an accessory".to_string(), |n| format!("accessory {n}")),
            owner.unwrap_or("no dhow app")
        )
    })
}

/// Boot the accessory unless it runs already.
pub async fn boot(
    host: &HostConn,
    a: &AccessorySettings,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
) -> anyhow::Result<Booted> {
    match state(host, a).await? {
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
    state(host, a).await?;
    // Volumes the image declares (VOLUME) that the config mounts nothing on are anonymous:
    // the new container gets the old one's, or it would come back empty.
    let old_mounts = containers::inspect(&host.docker, &a.container)
        .await?
        .and_then(|c| c.mounts)
        .unwrap_or_default();
    containers::stop(&host.docker, &a.container, STOP_GRACE).await?;
    // Removal keeps the container's volumes (no `v`), so they are there to mount again.
    containers::remove(&host.docker, &a.container).await?;
    create_with(host, a, registry, log, &old_mounts).await
}

/// `name:destination` binds for the anonymous volumes in `old` that `binds` (the new
/// container's) mount nothing on.
pub fn carried_volumes(old: &[bollard::models::MountPoint], binds: &[String]) -> Vec<String> {
    let taken: Vec<&str> = binds.iter().filter_map(|b| b.split(':').nth(1)).collect();
    old.iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| Some((m.name.as_deref()?, m.destination.as_deref()?)))
        .filter(|(name, _)| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|(_, dst)| !taken.contains(dst))
        .map(|(name, dst)| format!("{name}:{dst}"))
        .collect()
}

/// Start the stopped container and wait until it stays up.
pub async fn start(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<()> {
    state(host, a).await?;
    containers::start(&host.docker, &a.container).await?;
    settle(host, a).await
}

/// Stop the container (it stays, with its data, until `start`).
pub async fn stop(host: &HostConn, a: &AccessorySettings) -> anyhow::Result<()> {
    state(host, a).await?;
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
    state(host, a).await?;
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
    create_with(host, a, registry, log, &[]).await
}

/// Create and start the container, mounting the anonymous volumes of `old_mounts` (the
/// container it replaces) where the config mounts nothing.
async fn create_with(
    host: &HostConn,
    a: &AccessorySettings,
    registry: Option<&RegistryAccess>,
    log: impl FnMut(&str),
    old_mounts: &[bollard::models::MountPoint],
) -> anyhow::Result<(Delivered, Vec<String>)> {
    if a.network == NETWORK {
        network::ensure(&host.docker).await?;
    }
    let delivered = deliver(host, &a.image, registry, log).await?;
    let home = place::home(host.shell.as_ref()).await?;
    let placed = place::put(host.shell.as_ref(), a, &home).await?;
    let mut body = a.create_body(&home)?;
    if let Some(host_config) = body.host_config.as_mut() {
        let binds = host_config.binds.get_or_insert_with(Vec::new);
        let carried = carried_volumes(old_mounts, binds);
        binds.extend(carried);
    }
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

#[cfg(test)]
mod tests {
    use super::carried_volumes;
    use bollard::models::MountPoint;

    fn volume(name: &str, dst: &str) -> MountPoint {
        MountPoint {
            typ: Some("volume".into()),
            name: Some(name.into()),
            destination: Some(dst.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_rebooted_accessory_keeps_the_anonymous_volumes_of_its_image() {
        let anon = "a".repeat(64);
        let old = [
            // postgres:16's VOLUME, with no volume in the config.
            volume(&anon, "/var/lib/postgresql/data"),
            // A named volume from the config, mounted again by the config itself.
            volume("db-data", "/data"),
            MountPoint {
                typ: Some("bind".into()),
                source: Some("/home/u/.dhow/x".into()),
                destination: Some("/etc/x".into()),
                ..Default::default()
            },
        ];
        let binds = vec![
            "db-data:/data".to_string(),
            "/home/u/f:/etc/x:ro".to_string(),
        ];
        assert_eq!(
            carried_volumes(&old, &binds),
            vec![format!("{anon}:/var/lib/postgresql/data")]
        );
        // The config now mounts something there itself: that wins.
        let binds = vec!["pg:/var/lib/postgresql/data".to_string()];
        assert!(carried_volumes(&old[..1], &binds).is_empty());
    }
}
