//! `app exec`: run a command in the running container (--reuse) or in a new one-off
//! container of the current version with the app's env, on each selected host (the first
//! role there), or attached to this terminal (-i, first host only).

use super::super::context::Ctx;
use crate::deploy::plan::Movement;
use crate::deploy::targets::Targets;
use crate::docker::labels::LABEL_SERVICE;
use crate::docker::spec::{create_body, ContainerSpec};
use crate::docker::{containers, exec, logs};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::host::shell::quote;
use std::collections::HashMap;

/// The words of a trailing command: one argument is a command line, split the way a shell
/// would (`dhow app exec "bin/rails db:migrate"`, or an alias's quoted `"bin/rails
/// console"`); several arguments are the words already (the user's shell split them).
pub(crate) fn command_words(cmd: &[String]) -> anyhow::Result<Vec<String>> {
    match cmd {
        [line] => {
            let words =
                crate::config::types::split_command(line).map_err(|e| fail(Kind::Usage, e))?;
            if words.is_empty() {
                return Err(fail(Kind::Usage, "the command is empty"));
            }
            Ok(words)
        }
        _ => Ok(cmd.to_vec()),
    }
}

/// What `app exec` was asked.
pub(super) struct ExecRequest<'a> {
    pub reuse: bool,
    pub interactive: bool,
    pub cmd: &'a [String],
}

/// Run the command on every selected host, in its first role; fails naming each host where
/// the command failed.
pub(super) async fn run(
    ctx: &Ctx,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
    req: &ExecRequest<'_>,
) -> anyhow::Result<()> {
    let words = command_words(req.cmd)?;
    let req = &ExecRequest {
        cmd: &words,
        ..*req
    };
    let mut failed = Vec::new();
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        let Some(role) = host.roles.first() else {
            continue;
        };
        let list = containers::service_containers(
            &conn.docker,
            &plan.service,
            plan.destination.as_deref(),
            Some(&role.role),
        )
        .await?;
        let running = list.iter().find(|c| c.running);
        let code = if req.reuse {
            let Some(c) = running else {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{}: no running {} container to --reuse",
                        host.host, role.role
                    ),
                ));
            };
            if req.interactive {
                let code = exec_attached(conn, &c.name, req.cmd).await?;
                return exit_status(&host.host, code);
            }
            exec_in(ctx, conn, &host.host, &c.name, req.cmd).await?
        } else {
            let current = running
                .map(|c| c.version.clone())
                .or(ctx.explicit_version());
            let Some(version) = current else {
                return Err(fail(
                    Kind::Usage,
                    format!("{}: nothing deployed; pass --version", host.host),
                ));
            };
            let vplan = ctx.plan(&version, Movement::Deploy, true)?;
            let spec = vplan
                .hosts
                .iter()
                .find(|h| h.host == host.host)
                .and_then(|h| h.roles.iter().find(|r| r.role == role.role))
                .map(|r| r.container.clone())
                .ok_or_else(|| fail(Kind::Internal, "role vanished from the plan"))?;
            if req.interactive {
                let code = exec_new_attached(conn, spec, req.cmd).await?;
                return exit_status(&host.host, code);
            }
            exec_new(ctx, conn, &host.host, spec, req.cmd).await?
        };
        if code != 0 {
            failed.push(format!("{} ({}): exit status {code}", host.host, role.role));
        }
    }
    if !failed.is_empty() {
        return Err(fail(
            Kind::Remote,
            format!("command failed on: {}", failed.join(", ")),
        ));
    }
    Ok(())
}

/// An interactive command's exit status as the command's result.
fn exit_status(host: &str, code: u32) -> anyhow::Result<()> {
    match code {
        0 => Ok(()),
        127 => Err(fail(
            Kind::Remote,
            format!("{host}: exit status 127 (is the docker command installed on the host?)"),
        )),
        n => Err(fail(Kind::Remote, format!("{host}: exit status {n}"))),
    }
}

/// `docker exec -i[t] NAME CMD` on the host, attached to this terminal.
pub(crate) async fn exec_attached(
    conn: &HostConn,
    name: &str,
    cmd: &[String],
) -> anyhow::Result<u32> {
    let tty = crate::host::ssh::terminal_attached();
    let words: Vec<String> = cmd.iter().map(|w| quote(w)).collect();
    let line = format!(
        "docker exec -i{} {} {}",
        if tty { "t" } else { "" },
        quote(name),
        words.join(" ")
    );
    conn.shell.exec_interactive(&line).await
}

/// A new container of the app's image and env, attached to this terminal, removed after.
async fn exec_new_attached(
    conn: &HostConn,
    spec: ContainerSpec,
    cmd: &[String],
) -> anyhow::Result<u32> {
    let (name, mut body) = one_off(spec, cmd)?;
    body.tty = Some(crate::host::ssh::terminal_attached());
    body.open_stdin = Some(true);
    body.stdin_once = Some(true);
    body.attach_stdin = Some(true);
    body.attach_stdout = Some(true);
    body.attach_stderr = Some(true);
    create_one_off(conn, &name, body).await?;
    let result = conn
        .shell
        .exec_interactive(&format!("docker start -ai {}", quote(&name)))
        .await;
    containers::remove(&conn.docker, &name).await?;
    result
}

/// A one-off container of the app running `cmd` (for `app exec`): its name and create body,
/// with no restart policy and not labelled as an app container.
fn one_off(
    mut spec: ContainerSpec,
    cmd: &[String],
) -> anyhow::Result<(String, bollard::models::ContainerCreateBody)> {
    spec.name = format!("{}-exec-{}", spec.name, std::process::id());
    spec.cmd = Some(cmd.to_vec());
    spec.labels
        .insert(format!("{LABEL_SERVICE}.exec"), "true".into());
    let mut body = create_body(&spec)?;
    if let Some(hc) = body.host_config.as_mut() {
        hc.restart_policy = None;
    }
    // One-off containers must not count as app containers.
    if let Some(labels) = body.labels.as_mut() {
        labels.remove(LABEL_SERVICE);
    }
    Ok((spec.name, body))
}

async fn create_one_off(
    conn: &HostConn,
    name: &str,
    body: bollard::models::ContainerCreateBody,
) -> anyhow::Result<()> {
    let what = format!("{}: create exec container", conn.name);
    containers::create(&conn.docker, name, body, &what).await
}

/// `cmd` in the running container `name`, its output shown per line; its exit code.
pub(crate) async fn exec_in(
    ctx: &Ctx,
    conn: &HostConn,
    host: &str,
    name: &str,
    cmd: &[String],
) -> anyhow::Result<i64> {
    exec::exec_in(&conn.docker, name, cmd, |line| {
        ctx.out.host_line(host, "stdout", line)
    })
    .await
    .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")))
}

async fn exec_new(
    ctx: &Ctx,
    conn: &HostConn,
    host: &str,
    spec: ContainerSpec,
    cmd: &[String],
) -> anyhow::Result<i64> {
    let (name, body) = one_off(spec, cmd)?;
    create_one_off(conn, &name, body).await?;
    containers::start(&conn.docker, &name).await?;
    let code = exec::wait_exit(&conn.docker, &name)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")))?;
    let out = logs::logs_tail(&conn.docker, &name, 10_000).await;
    for line in out.lines() {
        ctx.out.host_line(host, "stdout", line);
    }
    containers::remove(&conn.docker, &name).await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::collections::BTreeMap;

    #[test]
    fn a_one_off_is_not_an_app_container_and_does_not_restart() {
        let spec = ContainerSpec {
            name: "demo-web-abc".into(),
            image: "dhow/demo:abc".into(),
            service: "demo".into(),
            role: "web".into(),
            destination: None,
            version: "abc".into(),
            cmd: None,
            env: vec![],
            secret_env: vec![("S".into(), SecretString::from("hush"))],
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        };
        let (name, body) = one_off(spec, &["rake".into(), "db:migrate".into()]).unwrap();
        assert!(name.starts_with("demo-web-abc-exec-"));
        let labels = body.labels.unwrap();
        assert!(!labels.contains_key(LABEL_SERVICE));
        assert_eq!(labels[&format!("{LABEL_SERVICE}.exec")], "true");
        assert!(body.host_config.unwrap().restart_policy.is_none());
        assert_eq!(body.cmd.unwrap(), ["rake", "db:migrate"]);
    }
}
