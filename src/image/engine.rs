//! Small helpers shared by the image operations: connecting to the local engine, reading a
//! progress stream with an idle timeout, and telling "no such image" apart from other errors.

use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::Docker;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// How long connecting to an engine and negotiating the API version may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connect to the local Docker engine (DOCKER_HOST or the default socket) and negotiate the
/// API version, so an old engine (20.10, API 1.41) and a new one both work.
pub async fn connect_local() -> Result<Docker> {
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

/// The next item of a progress stream, or an error when nothing arrives for `idle`.
pub async fn next_within<S>(stream: &mut S, idle: Duration, what: &str) -> Result<Option<S::Item>>
where
    S: Stream + Unpin,
{
    tokio::time::timeout(idle, stream.next())
        .await
        .map_err(|_| {
            fail(
                Kind::Remote,
                format!(
                "{what}: no progress for {} minutes; giving up (check the engine and the network)",
                idle.as_secs() / 60
            ),
            )
        })
}

/// True when the engine said the image does not exist.
pub fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine's own message of an error, without bollard's wrapping.
pub fn message(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}
