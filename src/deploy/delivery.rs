//! Pulling an image on a host from the configured registry, with its login; a registry on the
//! deployer's loopback (the sandbox's, or an SSH-tunnelled one) is reached through the host's
//! SSH connection. Shared by app deploys and accessories.

use super::settings::RegistrySettings;
use crate::host::conn::HostConn;

/// Is `image` stored in registry `r` (its name starts with the registry's address)?
pub fn in_registry(image: &str, r: &RegistrySettings) -> bool {
    image.starts_with(&format!("{}/", r.server))
}

/// Pull `image` on `host` from registry `r`.
pub async fn pull_from_registry(
    host: &HostConn,
    image: &str,
    r: &RegistrySettings,
    log: impl FnMut(&str),
) -> anyhow::Result<()> {
    if let Some((port, local)) = loopback_address(&r.server) {
        // A registry on the deployer's loopback: reach it through the SSH connection.
        host.shell.forward_remote_port(port, &local).await?;
    }
    let login = crate::image::credentials::Login {
        username: r.username.clone(),
        password: r.password.clone(),
    };
    crate::image::registry::pull(&host.docker, image, Some(&login), log).await
}

/// For a registry on this machine's loopback (`localhost:5000`, `127.0.0.1:5000`): the port
/// hosts must forward and the local address it leads to.
pub fn loopback_address(server: &str) -> Option<(u16, String)> {
    let (host, port) = server.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let local = match host {
        "localhost" => "127.0.0.1".to_string(),
        h if h.starts_with("127.") => h.to_string(),
        _ => return None,
    };
    Some((port, format!("{local}:{port}")))
}
