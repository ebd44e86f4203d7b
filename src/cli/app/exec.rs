//! `app exec`: run a command in the running container (--reuse) or in a new one-off
//! container of the current version with the app's env (plus `-e KEY=VALUE`), on each
//! selected host (the first role there), its output shown line by line as it comes; attached
//! to this terminal (-i, first host only); or started and left running (--detach).

use super::super::context::Ctx;
use crate::deploy::plan::Movement;
use crate::deploy::targets::Targets;
use crate::docker::labels::LABEL_SERVICE;
use crate::docker::spec::{create_body, ContainerSpec};
use crate::docker::{containers, exec, lines::Lines, logs};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::host::shell::quote;
use futures::StreamExt;
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
    pub detach: bool,
    /// `-e KEY=VALUE`: added to (or replacing in) the container's env.
    pub env: &'a [(String, String)],
    pub cmd: &'a [String],
}

/// Parse `-e KEY=VALUE` (an empty value is allowed, an empty or `=`-less key is not).
pub(super) fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
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
                let code = exec_attached_env(conn, &c.name, req.env, req.cmd).await?;
                return exit_status(&host.host, code);
            }
            exec_in_env(ctx, conn, &host.host, &c.name, req.env, req.cmd).await?
        } else {
            // `--version` first: a pre-deploy hook runs the new version's migrations while
            // the old one still serves.
            let current = ctx
                .explicit_version()
                .or_else(|| running.map(|c| c.version.clone()));
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
            ensure_image(ctx, &version, &host.host, conns, &spec.image).await?;
            if req.interactive {
                let code = exec_new_attached(conn, spec, req.env, req.cmd).await?;
                return exit_status(&host.host, code);
            }
            if req.detach {
                let name = exec_detached(conn, spec, req.env, req.cmd).await?;
                ctx.out.event(
                    "exec_detached",
                    serde_json::json!({ "host": host.host, "role": role.role, "container": name }),
                );
                if !ctx.out.json {
                    ctx.out.host_line(&host.host, "stdout", &name);
                }
                continue;
            }
            exec_new(ctx, conn, &host.host, spec, req.env, req.cmd).await?
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

/// A version not on the host yet (`--version` of one just built, before its deploy) is
/// brought there as a deploy brings it: pulled from the registry or sent over SSH from this
/// machine's engine.
async fn ensure_image(
    ctx: &Ctx,
    version: &str,
    host: &str,
    conns: &HashMap<String, HostConn>,
    image: &str,
) -> anyhow::Result<()> {
    let Some(conn) = conns.get(host) else {
        return Err(fail(Kind::Internal, format!("no connection to {host}")));
    };
    if crate::docker::images::present(&conn.docker, image).await {
        return Ok(());
    }
    // Not skip_push: the delivery a deploy of this version makes.
    let mut one = ctx.plan(version, Movement::Deploy, false)?;
    one.hosts.retain(|h| h.host == host);
    ctx.out.info(format!(
        "{host}: {image} is not there yet; bringing it first"
    ));
    super::super::build::deliver_image(ctx, &one, conns).await
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
    exec_attached_env(conn, name, &[], cmd).await
}

/// The same with `-e KEY=VALUE` for each of `env`.
async fn exec_attached_env(
    conn: &HostConn,
    name: &str,
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<u32> {
    let tty = crate::host::ssh::terminal_attached();
    let words: Vec<String> = cmd.iter().map(|w| quote(w)).collect();
    let envs: String = env
        .iter()
        .map(|(k, v)| format!(" -e {}", quote(&format!("{k}={v}"))))
        .collect();
    let line = format!(
        "docker exec -i{}{envs} {} {}",
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
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<u32> {
    let (name, mut body) = one_off(spec, env, cmd)?;
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

/// A one-off container of the app running `cmd` (for `app exec`) with `env` over the app's:
/// its name and create body, with no restart policy and not labelled as an app container.
fn one_off(
    mut spec: ContainerSpec,
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<(String, bollard::models::ContainerCreateBody)> {
    spec.name = format!("{}-exec-{}", spec.name, std::process::id());
    spec.cmd = Some(cmd.to_vec());
    // A cron role's one-off runs the given command, not the role's scheduler.
    spec.cron = None;
    for (k, v) in env {
        spec.env.retain(|(key, _)| key != k);
        spec.secret_env.retain(|(key, _)| key != k);
        spec.env.push((k.clone(), v.clone()));
    }
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
    exec_in_env(ctx, conn, host, name, &[], cmd).await
}

/// The same with `env` added.
async fn exec_in_env(
    ctx: &Ctx,
    conn: &HostConn,
    host: &str,
    name: &str,
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<i64> {
    exec::exec_in(&conn.docker, name, cmd, env, |line| {
        ctx.out.host_line(host, "stdout", line)
    })
    .await
    .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")))
}

/// A new one-off container running `cmd`: its output shown line by line while it runs (the
/// log followed from the start until the container exits), then its exit code; removed after.
async fn exec_new(
    ctx: &Ctx,
    conn: &HostConn,
    host: &str,
    spec: ContainerSpec,
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<i64> {
    let (name, body) = one_off(spec, env, cmd)?;
    create_one_off(conn, &name, body).await?;
    let result = async {
        containers::start(&conn.docker, &name).await?;
        let say = |line: &str| ctx.out.host_line(host, "stdout", line);
        let mut lines = Lines::default();
        let mut stream = std::pin::pin!(logs::from_start(&conn.docker, &name));
        while let Some(chunk) = stream.next().await {
            lines.push(&chunk?, say);
        }
        lines.finish(say);
        exec::wait_exit(&conn.docker, &name).await
    }
    .await
    .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")));
    containers::remove(&conn.docker, &name).await?;
    result
}

/// A new one-off container running `cmd`, started and left: its name. It is kept after it
/// exits (as Kamal's `--detach`), for `docker logs NAME` on the host; `docker rm` removes it.
async fn exec_detached(
    conn: &HostConn,
    spec: ContainerSpec,
    env: &[(String, String)],
    cmd: &[String],
) -> anyhow::Result<String> {
    let (name, body) = one_off(spec, env, cmd)?;
    create_one_off(conn, &name, body).await?;
    containers::start(&conn.docker, &name).await?;
    Ok(name)
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
            cron: None,
        };
        let env = [("S".to_string(), "plain".to_string())];
        let (name, body) = one_off(spec, &env, &["rake".into(), "db:migrate".into()]).unwrap();
        assert!(name.starts_with("demo-web-abc-exec-"));
        let labels = body.labels.unwrap();
        assert!(!labels.contains_key(LABEL_SERVICE));
        assert_eq!(labels[&format!("{LABEL_SERVICE}.exec")], "true");
        assert!(body.host_config.unwrap().restart_policy.is_none());
        assert_eq!(body.cmd.unwrap(), ["rake", "db:migrate"]);
        // -e replaces the app's value of the same key, secret or not.
        let env = body.env.unwrap();
        assert!(env.contains(&"S=plain".to_string()), "{env:?}");
        assert!(!env.contains(&"S=hush".to_string()), "{env:?}");
    }

    #[test]
    fn env_flags_are_key_value() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("A").is_err());
        assert!(parse_env("=x").is_err());
    }
}
