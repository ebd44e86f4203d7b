//! Registry delivery: push from the local engine, pull on a host's engine. Errors that arrive
//! inside the progress stream are caught; "unauthorized" becomes a message naming the
//! registry and the user (never the password).

use super::credentials::{self, Login};
use super::engine;
use super::reference;
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::query_parameters::{CreateImageOptionsBuilder, PushImageOptionsBuilder};
use bollard::Docker;
use std::time::Duration;

/// A push or pull may stay without any progress message this long.
const IDLE: Duration = Duration::from_secs(10 * 60);
/// The engine answers a push or pull request once it reached the registry.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Push `image_ref` (`registry/repo:tag`) from `local` to its registry. `progress` gets the
/// engine's status lines (`Pushed`, `latest: digest: ...`).
pub async fn push(
    local: &Docker,
    image_ref: &str,
    login: Option<&Login>,
    mut progress: impl FnMut(&str),
) -> Result<()> {
    let registry = reference::registry_of(image_ref);
    let resolved = credentials::resolve(registry, login)?;
    let (repo, tag) = reference::split_tag(image_ref);
    let options = PushImageOptionsBuilder::default()
        .tag(tag.unwrap_or("latest"))
        .build();
    let engine = local.clone().with_timeout(REQUEST_TIMEOUT);
    let mut stream = engine.push_image(repo, Some(options), resolved.credentials);
    let what = format!("push of {image_ref}");
    while let Some(item) = engine::next_within(&mut stream, IDLE, &what).await? {
        match item {
            Ok(info) => {
                if let Some(status) = info.status.as_deref() {
                    progress(status);
                }
            }
            Err(err) => {
                return Err(registry_error(
                    "push",
                    image_ref,
                    registry,
                    &resolved.user,
                    &err,
                ))
            }
        }
    }
    Ok(())
}

/// Pull `image_ref` from its registry onto `remote` (a host's engine), then check that the
/// engine has it under that name.
pub async fn pull(
    remote: &Docker,
    image_ref: &str,
    login: Option<&Login>,
    mut progress: impl FnMut(&str),
) -> Result<()> {
    let registry = reference::registry_of(image_ref);
    let resolved = credentials::resolve(registry, login)?;
    let (repo, tag) = reference::split_tag(image_ref);
    let options = CreateImageOptionsBuilder::default()
        .from_image(repo)
        .tag(tag.unwrap_or("latest"))
        .build();
    let engine = remote.clone().with_timeout(REQUEST_TIMEOUT);
    let mut stream = engine.create_image(Some(options), None, resolved.credentials);
    let what = format!("pull of {image_ref}");
    while let Some(item) = engine::next_within(&mut stream, IDLE, &what).await? {
        match item {
            Ok(info) => {
                if let Some(status) = info.status.as_deref() {
                    progress(status);
                }
            }
            Err(err) => {
                return Err(registry_error(
                    "pull",
                    image_ref,
                    registry,
                    &resolved.user,
                    &err,
                ))
            }
        }
    }
    remote.inspect_image(image_ref).await.map_err(|e| {
        fail(
            Kind::Remote,
            format!(
                "pulled {image_ref} but the engine does not list it: {}",
                docker::message(&e)
            ),
        )
    })?;
    Ok(())
}

fn registry_error(
    action: &str,
    image_ref: &str,
    registry: &str,
    user: &str,
    err: &bollard::errors::Error,
) -> anyhow::Error {
    let message = docker::message(err);
    let lower = message.to_lowercase();
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("no basic auth credentials")
        || lower.contains("denied")
    {
        return fail(
            Kind::Connection,
            format!(
                "registry {registry} refused the {action} of {image_ref} for user {user}: \
                 {message}; check registry.username and the registry password secret"
            ),
        );
    }
    if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("i/o timeout")
    {
        return fail(
            Kind::Connection,
            format!(
                "cannot reach registry {registry} to {action} {image_ref}: {message}; check \
                 registry.server and that the registry is up and reachable from the engine"
            ),
        );
    }
    if lower.contains("does not exist locally") {
        return fail(
            Kind::Usage,
            format!("cannot push {image_ref}: the local engine has no such image; build it first"),
        );
    }
    if lower.contains("not found") || lower.contains("manifest unknown") {
        return fail(
            Kind::Remote,
            format!(
                "{action} of {image_ref} failed: {message}; was the image pushed to {registry} \
                 with that tag?"
            ),
        );
    }
    fail(
        Kind::Remote,
        format!("{action} of {image_ref} via registry {registry} failed: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_registry_and_user() {
        let err = bollard::errors::Error::DockerStreamError {
            error: "unauthorized: authentication required".into(),
        };
        let e = registry_error("push", "127.0.0.1:5000/a:1", "127.0.0.1:5000", "dhow", &err);
        let text = e.to_string();
        assert!(
            text.contains("127.0.0.1:5000") && text.contains("user dhow"),
            "{text}"
        );
        assert_eq!(crate::error::kind_of(&e), Kind::Connection);
    }
}
