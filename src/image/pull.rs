//! Pulling an image on a host's engine from a registry, with its login: a registry on the
//! deployer's loopback (the sandbox's, or an SSH-tunnelled one) must first be forwarded to
//! the host, which the caller does with the host's SSH connection when asked (image/ takes
//! plain engine handles and knows nothing of SSH). Shared by app deploys (through
//! deploy/delivery.rs) and accessories.

use super::credentials::Login;
use bollard::Docker;
use std::future::Future;

/// A registry and the login to use with it.
#[derive(Clone)]
pub struct RegistryAccess {
    /// `registry.example.com`, `localhost:5000`.
    pub server: String,
    pub login: Login,
}

impl RegistryAccess {
    /// Is `image` stored in this registry (its name starts with the registry's address)?
    pub fn holds(&self, image: &str) -> bool {
        image.starts_with(&format!("{}/", self.server))
    }
}

/// Pull `image` on a host's engine from `registry`. For a registry on this machine's
/// loopback, `forward(port, local)` is called first: it must make the host's loopback `port`
/// lead to `local` here (the host's SSH connection does).
pub async fn pull_on_host<F, Fut>(
    docker: &Docker,
    image: &str,
    registry: &RegistryAccess,
    forward: F,
    log: impl FnMut(&str),
) -> anyhow::Result<()>
where
    F: FnOnce(u16, String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if let Some((port, local)) = loopback_address(&registry.server) {
        forward(port, local).await?;
    }
    super::registry::pull(docker, image, Some(&registry.login), log).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_forwarded() {
        assert_eq!(
            loopback_address("localhost:5000"),
            Some((5000, "127.0.0.1:5000".into()))
        );
        assert_eq!(
            loopback_address("127.0.0.2:5001"),
            Some((5001, "127.0.0.2:5001".into()))
        );
        assert_eq!(loopback_address("registry.example.com:5000"), None);
        assert_eq!(loopback_address("localhost"), None);
    }

    #[test]
    fn an_image_is_in_the_registry_its_name_starts_with() {
        let r = RegistryAccess {
            server: "localhost:5000".into(),
            login: Login {
                username: "u".into(),
                password: None,
            },
        };
        assert!(r.holds("localhost:5000/demo:abc"));
        assert!(!r.holds("localhost:50001/demo:abc"));
        assert!(!r.holds("postgres:16"));
    }
}
