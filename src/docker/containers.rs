//! Containers on one engine: find a service's containers by label, create, start, stop,
//! rename, remove, inspect, copy files in, and wait until one runs steadily or is healthy.
//! Every call has a timeout; a missing container is `None` (or fine, for stop and remove),
//! told by the engine's 404 alone (see errors.rs).

use super::errors::{is_not_found, message, timed, timed_or_missing, API_TIMEOUT};
use super::labels::{LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION};
use super::spec::{create_body, ContainerSpec};
use crate::error::{fail, Kind};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptions,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A dhow-managed container as the deploy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppContainer {
    pub name: String,
    pub version: String,
    pub role: String,
    pub running: bool,
    /// The engine's word for it: running, exited, created, restarting, paused, dead.
    pub state: String,
    pub created: i64,
    pub image: String,
}

/// All containers (running or not) of a service, optionally only one role, newest first.
pub async fn service_containers(
    docker: &Docker,
    service: &str,
    destination: Option<&str>,
    role: Option<&str>,
) -> anyhow::Result<Vec<AppContainer>> {
    let mut label_filters = vec![
        format!("{LABEL_SERVICE}={service}"),
        format!("{LABEL_DESTINATION}={}", destination.unwrap_or("")),
    ];
    if let Some(r) = role {
        label_filters.push(format!("{LABEL_ROLE}={r}"));
    }
    let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", label_filters)]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = timed("list containers", docker.list_containers(Some(opts))).await?;
    let mut out: Vec<AppContainer> = list.into_iter().map(app_container).collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.created));
    Ok(out)
}

fn app_container(c: ContainerSummary) -> AppContainer {
    let labels = c.labels.clone().unwrap_or_default();
    AppContainer {
        name: first_name(&c),
        version: labels.get(LABEL_VERSION).cloned().unwrap_or_default(),
        role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
        running: matches!(
            c.state,
            Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::RESTARTING)
        ),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        created: c.created.unwrap_or(0),
        image: c.image.unwrap_or_default(),
    }
}

/// A listed container's name, without Docker's leading `/`.
pub fn first_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// The running containers that carry `label` (any value).
pub async fn running_with_label(
    docker: &Docker,
    label: &str,
) -> anyhow::Result<Vec<ContainerSummary>> {
    let filters = HashMap::from([("label", vec![label])]);
    let opts = ListContainersOptionsBuilder::new()
        .filters(&filters)
        .build();
    timed("list containers", docker.list_containers(Some(opts))).await
}

/// The images every container on the engine (running or not, any service) was created from,
/// as the containers name them (`repo:tag`, or an ID).
pub async fn images_in_use(docker: &Docker) -> anyhow::Result<Vec<String>> {
    let opts = ListContainersOptionsBuilder::default().all(true).build();
    let list = timed("list containers", docker.list_containers(Some(opts))).await?;
    Ok(list
        .into_iter()
        .flat_map(|c| [c.image, c.image_id])
        .flatten()
        .collect())
}

/// Create and start a container from a spec.
pub async fn create_and_start(docker: &Docker, spec: &ContainerSpec) -> anyhow::Result<()> {
    let body = create_body(spec)?;
    create(
        docker,
        &spec.name,
        body,
        &format!("create container {}", spec.name),
    )
    .await?;
    timed(
        &format!("start container {}", spec.name),
        docker.start_container(&spec.name, None),
    )
    .await?;
    Ok(())
}

/// Create (not start) a container named `name`; a failure is reported as `what: <reason>`.
pub async fn create(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
    what: &str,
) -> anyhow::Result<()> {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    timed(what, docker.create_container(Some(opts), body)).await?;
    Ok(())
}

/// Start an existing (stopped) container.
pub async fn start(docker: &Docker, name: &str) -> anyhow::Result<()> {
    start_described(docker, name, &format!("start container {name}")).await
}

/// Start a container; a failure is reported as `what: <reason>`.
pub async fn start_described(docker: &Docker, name: &str, what: &str) -> anyhow::Result<()> {
    timed(what, docker.start_container(name, None)).await
}

/// Stop a container, giving it `grace` to exit after SIGTERM. Missing containers are fine.
pub async fn stop(docker: &Docker, name: &str, grace: Duration) -> anyhow::Result<()> {
    let opts = StopContainerOptionsBuilder::default()
        .t(grace.as_secs().min(i32::MAX as u64) as i32)
        .build();
    let fut = docker.stop_container(name, Some(opts));
    match tokio::time::timeout(API_TIMEOUT + grace, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if is_not_found(&e) => Ok(()),
        Ok(Err(e)) => Err(fail(
            Kind::Remote,
            format!("stop container {name}: {}", message(&e)),
        )),
        Err(_) => Err(fail(
            Kind::Remote,
            format!("stop container {name}: timed out"),
        )),
    }
}

/// Remove a container (forcefully). Missing containers are fine.
pub async fn remove(docker: &Docker, name: &str) -> anyhow::Result<()> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    timed_or_missing(
        &format!("remove container {name}"),
        docker.remove_container(name, Some(opts)),
    )
    .await?;
    Ok(())
}

/// Rename a container.
pub async fn rename(docker: &Docker, name: &str, new_name: &str) -> anyhow::Result<()> {
    let opts = RenameContainerOptionsBuilder::default()
        .name(new_name)
        .build();
    timed(
        &format!("rename container {name}"),
        docker.rename_container(name, opts),
    )
    .await
}

/// Set whether Docker starts a container again when it exits (unless-stopped, or never).
pub async fn set_restart(docker: &Docker, name: &str, again: bool) -> anyhow::Result<()> {
    let policy = if again {
        bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED
    } else {
        bollard::models::RestartPolicyNameEnum::NO
    };
    let body = bollard::models::ContainerUpdateBody {
        restart_policy: Some(bollard::models::RestartPolicy {
            name: Some(policy),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    timed(
        &format!("update container {name}"),
        docker.update_container(name, body),
    )
    .await
}

/// A container's state and config, or `None` when there is no such container.
pub async fn inspect(
    docker: &Docker,
    name: &str,
) -> anyhow::Result<Option<ContainerInspectResponse>> {
    timed_or_missing(
        &format!("inspect container {name}"),
        docker.inspect_container(name, None),
    )
    .await
}

/// Unpack a tar archive into a container at `path` (through the API: never a command line).
pub async fn upload(
    docker: &Docker,
    name: &str,
    path: &str,
    archive: Vec<u8>,
    what: &str,
) -> anyhow::Result<()> {
    let opts = UploadToContainerOptions {
        path: path.into(),
        ..Default::default()
    };
    timed(
        what,
        docker.upload_to_container(name, Some(opts), bollard::body_full(archive.into())),
    )
    .await
}

/// Why a container is not (or no longer) running, if it is not.
pub async fn not_running_reason(docker: &Docker, name: &str) -> anyhow::Result<Option<String>> {
    let info = timed(
        &format!("inspect container {name}"),
        docker.inspect_container(name, None),
    )
    .await?;
    let state = info.state.unwrap_or_default();
    let restarts = info.restart_count.unwrap_or(0);
    if state.running == Some(true) && state.restarting != Some(true) && restarts == 0 {
        return Ok(None);
    }
    Ok(Some(format!(
        "container {name} is {} (exit code {}, restarted {restarts} times{})",
        state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "not running".into()),
        state.exit_code.unwrap_or(0),
        state
            .error
            .filter(|e| !e.is_empty())
            .map(|e| format!(", error: {e}"))
            .unwrap_or_default()
    )))
}

/// Wait until a container is healthy (if it has a health check) or has kept running for
/// `settle`, failing early when it exits or restarts, or at `deadline`.
pub async fn wait_steady(
    docker: &Docker,
    name: &str,
    settle: Duration,
    deadline: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let info = timed(
            &format!("inspect container {name}"),
            docker.inspect_container(name, None),
        )
        .await?;
        if let Some(reason) = not_running_reason(docker, name).await? {
            return Err(fail(Kind::Deploy, reason));
        }
        let state = info.state.unwrap_or_default();
        let health = state.health.and_then(|h| h.status).map(|s| s.to_string());
        match health.as_deref() {
            Some("healthy") => return Ok(()),
            Some("unhealthy") => {
                return Err(fail(Kind::Deploy, format!("container {name} is unhealthy")))
            }
            Some("starting") => {}
            _ if start.elapsed() >= settle => return Ok(()),
            _ => {}
        }
        if start.elapsed() >= deadline {
            return Err(fail(
                Kind::Deploy,
                format!(
                    "container {name} did not become healthy within {}s",
                    deadline.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
