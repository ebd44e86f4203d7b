//! The Docker engine on this machine (where images are built): connect to it and negotiate
//! the API version, under a timeout, with advice when it does not answer. A host's engine is
//! reached through the SSH tunnel instead (src/host/docker_tunnel.rs).

use crate::error::{fail, Kind};
use bollard::Docker;
use std::time::Duration;

/// How long connecting to an engine and negotiating the API version may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connect to the local Docker engine (DOCKER_HOST or the default socket) and negotiate the
/// API version, so an old engine (20.10, API 1.41) and a new one both work.
pub async fn connect_local() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| {
        fail(
            Kind::Connection,
            format!("cannot connect to the local Docker engine: {e}; is Docker running?"),
        )
    })?;
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(fail(
            Kind::Connection,
            format!(
                "the local Docker engine does not answer: {e}; start Docker (or set DOCKER_HOST) \
                 and try again"
            ),
        )),
        Err(_) => Err(fail(
            Kind::Connection,
            format!(
                "the local Docker engine did not answer within {}s; check that Docker is running",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}
