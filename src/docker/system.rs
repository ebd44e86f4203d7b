//! What an engine says about itself (`docker version`): for `dhow details`.

use super::errors::timed;
use bollard::Docker;

/// The engine's version and API version (`?` where it does not say).
pub async fn version(docker: &Docker) -> anyhow::Result<(String, String)> {
    let v = timed("docker version", docker.version()).await?;
    Ok((
        v.version.unwrap_or_else(|| "?".into()),
        v.api_version.unwrap_or_else(|| "?".into()),
    ))
}
