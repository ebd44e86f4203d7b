//! Running commands through the engine: `docker exec` in a running container (output
//! streamed line by line, exit code returned), and waiting for a one-off container to exit.
//! The command's own run time has no limit (a migration may take long); the API calls around
//! it do.

use super::errors::{message, timed};
use crate::error::{fail, Kind};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::WaitContainerOptions;
use bollard::Docker;
use futures::StreamExt;

/// Run `cmd` inside the running container `name` with `env` added (`docker exec -e`),
/// handing each output line to `on_line` as it comes; returns the command's exit code (-1
/// when the engine does not say).
pub async fn exec_in(
    docker: &Docker,
    name: &str,
    cmd: &[String],
    env: &[(String, String)],
    mut on_line: impl FnMut(&str),
) -> anyhow::Result<i64> {
    let exec = timed(
        &format!("exec in {name}"),
        docker.create_exec(
            name,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd.to_vec()),
                env: (!env.is_empty())
                    .then(|| env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                ..Default::default()
            },
        ),
    )
    .await?;
    let started = timed("exec", docker.start_exec(&exec.id, None)).await?;
    if let StartExecResults::Attached { mut output, .. } = started {
        let mut lines = super::lines::Lines::default();
        while let Some(Ok(chunk)) = output.next().await {
            lines.push(&chunk.to_string(), &mut on_line);
        }
        lines.finish(&mut on_line);
    }
    let info = timed("exec", docker.inspect_exec(&exec.id)).await?;
    Ok(info.exit_code.unwrap_or(-1))
}

/// Wait for container `name` to exit; its exit code (-1 when the engine does not say).
pub async fn wait_exit(docker: &Docker, name: &str) -> anyhow::Result<i64> {
    let mut wait = docker.wait_container(name, None::<WaitContainerOptions>);
    match wait.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(fail(
            Kind::Remote,
            format!("waiting for the exec container: {}", message(&e)),
        )),
        None => Ok(-1),
    }
}
