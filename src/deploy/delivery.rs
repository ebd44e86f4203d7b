//! The app image's registry as the deploy settings name it, handed to image/'s pull on a
//! host (src/image/pull.rs holds the pulling itself, shared with accessories).

use super::settings::RegistrySettings;
use crate::host::conn::HostConn;
use crate::image::credentials::Login;
use crate::image::pull::{pull_on_host, RegistryAccess};

impl From<&RegistrySettings> for RegistryAccess {
    fn from(r: &RegistrySettings) -> Self {
        RegistryAccess {
            server: r.server.clone(),
            login: Login {
                username: r.username.clone(),
                password: r.password.clone(),
            },
        }
    }
}

/// Pull `image` on `host` from registry `r`.
pub async fn pull_from_registry(
    host: &HostConn,
    image: &str,
    r: &RegistrySettings,
    log: impl FnMut(&str),
) -> anyhow::Result<()> {
    let forward = |port, local: String| async move {
        // A registry on the deployer's loopback: reach it through the SSH connection.
        host.shell.forward_remote_port(port, &local).await
    };
    pull_on_host(&host.docker, image, &RegistryAccess::from(r), forward, log).await
}
