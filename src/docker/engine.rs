//! The Docker operations a deploy needs on one host, over that host's engine (bollard through
//! the SSH tunnel): find a role's containers by label, create/start/stop/rename/remove, read
//! the last log lines, wait until a container is running steadily or healthy.

use crate::deploy::container::{
    create_body, ContainerSpec, LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION,
};
use crate::error::{fail, Kind};
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long one Docker API call may take (image transfers have their own limits).
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

/// A dhow-managed container as the deploy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppContainer {
    pub name: String,
    pub version: String,
    pub role: String,
    pub running: bool,
    pub created: i64,
    pub image: String,
}

pub(crate) async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(fail(
            Kind::Remote,
            format!("{what}: {}", docker_message(&e)),
        )),
        Err(_) => Err(fail(
            Kind::Remote,
            format!(
                "{what}: Docker did not answer within {}s",
                API_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// The server's message for an API error, without bollard's wrapping.
pub fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    let s = format!("{e:#}");
    s.contains("No such container") || s.contains("not found") || s.contains("404")
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
    let mut out: Vec<AppContainer> = list
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            AppContainer {
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                version: labels.get(LABEL_VERSION).cloned().unwrap_or_default(),
                role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
                running: matches!(
                    c.state,
                    Some(
                        ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::RESTARTING
                    )
                ),
                created: c.created.unwrap_or(0),
                image: c.image.unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.created));
    Ok(out)
}

/// Create and start a container from a spec.
pub async fn create_and_start(docker: &Docker, spec: &ContainerSpec) -> anyhow::Result<()> {
    let body = create_body(spec)?;
    let opts = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    timed(
        &format!("create container {}", spec.name),
        docker.create_container(Some(opts), body),
    )
    .await?;
    timed(
        &format!("start container {}", spec.name),
        docker.start_container(&spec.name, None),
    )
    .await?;
    Ok(())
}

/// Start an existing (stopped) container.
pub async fn start(docker: &Docker, name: &str) -> anyhow::Result<()> {
    timed(
        &format!("start container {name}"),
        docker.start_container(name, None),
    )
    .await
}

/// Stop a container, giving it `grace` to exit after SIGTERM. Missing containers are fine.
pub async fn stop(docker: &Docker, name: &str, grace: Duration) -> anyhow::Result<()> {
    let opts = StopContainerOptionsBuilder::default()
        .t(grace.as_secs().min(i32::MAX as u64) as i32)
        .build();
    let fut = docker.stop_container(name, Some(opts));
    match tokio::time::timeout(API_TIMEOUT + grace, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let err = fail(
                Kind::Remote,
                format!("stop container {name}: {}", docker_message(&e)),
            );
            if is_not_found(&err) {
                Ok(())
            } else {
                Err(err)
            }
        }
        Err(_) => Err(fail(
            Kind::Remote,
            format!("stop container {name}: timed out"),
        )),
    }
}

/// Remove a container (forcefully). Missing containers are fine.
pub async fn remove(docker: &Docker, name: &str) -> anyhow::Result<()> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    match timed(
        &format!("remove container {name}"),
        docker.remove_container(name, Some(opts)),
    )
    .await
    {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
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

/// The last `lines` lines of a container's output (stdout and stderr).
pub async fn logs_tail(docker: &Docker, name: &str, lines: usize) -> String {
    tail_of(docker, name, lines, true).await
}

/// The last `lines` lines a container wrote to stderr (the proxy's own messages; its stdout is
/// the request log).
pub async fn stderr_tail(docker: &Docker, name: &str, lines: usize) -> String {
    tail_of(docker, name, lines, false).await
}

async fn tail_of(docker: &Docker, name: &str, lines: usize, stdout: bool) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(stdout)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(name, Some(opts));
    let mut text = String::new();
    let collect = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => text.push_str(&chunk.to_string()),
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), collect).await;
    text
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
