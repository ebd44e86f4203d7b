//! `dhow app ...`: look at and operate the app's containers on the selected hosts: details,
//! containers, images, logs, exec, stop, start, boot, remove, version, maintenance, live.

use super::context::Ctx;
use crate::deploy::container::{create_body, LABEL_SERVICE};
use crate::deploy::plan::Movement;
use crate::docker::engine;
use crate::error::{fail, Kind};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    ListImagesOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;

/// What `app logs` and `proxy logs` show.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Lines of history to show per container.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub lines: usize,
    /// Keep following new output until Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines containing this text.
    #[arg(long)]
    pub grep: Option<String>,
    /// Only lines from this long ago on (e.g. 10m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration)]
    pub since: Option<std::time::Duration>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AppCommand {
    /// The running containers of the app on each host.
    Details,
    /// All containers of the app (running and retained) on each host.
    Containers,
    /// The app's images on each host.
    Images,
    /// Logs of the running containers.
    Logs(LogsArgs),
    /// Run a command in a new container of the current version (with the app's env), or in
    /// the running container with --reuse.
    Exec {
        /// Run inside the running container instead of a new one.
        #[arg(long)]
        reuse: bool,
        /// Interactive: attached to this terminal (a TTY when there is one), on the first
        /// selected host only.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The command, e.g. "bin/rails db:migrate".
        #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
        cmd: Vec<String>,
    },
    /// Stop the running containers (traffic gets errors until `app start`).
    Stop,
    /// Start the current version's containers again.
    Start,
    /// Boot the current (or --version) version again on the selected hosts.
    Boot,
    /// Remove all the app's containers and images from the selected hosts.
    Remove {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// The running version on each host.
    Version,
    /// Answer every request with a 503 maintenance page on the selected hosts; health checks
    /// keep passing, so outer load balancers keep the hosts. Survives deploys and proxy
    /// restarts until `app live`.
    Maintenance {
        /// The message on the page.
        #[arg(long)]
        message: Option<String>,
    },
    /// End maintenance: requests reach the app again.
    Live,
}

pub async fn run(ctx: &Ctx, cmd: &AppCommand) -> anyhow::Result<()> {
    if let AppCommand::Boot = cmd {
        return boot(ctx).await;
    }
    if let AppCommand::Remove { yes } = cmd {
        if !yes
            && !super::context::confirm(
                "Remove all containers and images of the app from the selected hosts?",
            )?
        {
            return Err(fail(
                Kind::Usage,
                "not confirmed; nothing removed (use -y to skip the question)",
            ));
        }
    }
    let plan = ctx.targets()?;
    let conns = ctx.connect(&plan.host_names()).await?;
    if let AppCommand::Logs(args) = cmd {
        // Every host's running containers at once (with -f, all follow side by side).
        let mut streams = Vec::new();
        for (host, _role, list) in super::versions::inventory(&plan, &conns).await? {
            let Some(conn) = conns.get(&host) else {
                continue;
            };
            for c in list.into_iter().filter(|c| c.running) {
                streams.push((conn.clone(), host.clone(), c.name));
            }
        }
        let tasks = streams
            .iter()
            .map(|(conn, host, name)| logs(ctx, conn, host, name, args));
        for r in futures::future::join_all(tasks).await {
            r?;
        }
        return Ok(());
    }
    let mut failed = Vec::new();
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        let say = |line: &str| ctx.out.host_line(&host.host, "stdout", line);
        for role in &host.roles {
            let list = engine::service_containers(
                &conn.docker,
                &plan.service,
                plan.destination.as_deref(),
                Some(&role.role),
            )
            .await?;
            let running: Vec<_> = list.iter().filter(|c| c.running).collect();
            match cmd {
                AppCommand::Details | AppCommand::Version => {
                    if running.is_empty() {
                        say(&format!("{}: not running", role.role));
                    }
                    for c in &running {
                        if matches!(cmd, AppCommand::Version) {
                            say(&format!("{}: {}", role.role, c.version));
                        } else {
                            say(&format!("{}: {} ({}) running", role.role, c.name, c.image));
                        }
                    }
                }
                AppCommand::Containers => {
                    for c in &list {
                        say(&format!(
                            "{}: {} {} {}",
                            role.role,
                            c.name,
                            c.version,
                            if c.running { "running" } else { "stopped" }
                        ));
                    }
                }
                // Handled above, every host at once.
                AppCommand::Logs(_) => {}
                AppCommand::Exec {
                    reuse,
                    interactive,
                    cmd,
                } => {
                    let code = if *reuse {
                        let Some(c) = running.first() else {
                            return Err(fail(
                                Kind::Usage,
                                format!(
                                    "{}: no running {} container to --reuse",
                                    host.host, role.role
                                ),
                            ));
                        };
                        if *interactive {
                            let code = exec_attached(conn, &c.name, cmd).await?;
                            return exit_status(&host.host, code);
                        }
                        exec_in(ctx, conn, &host.host, &c.name, cmd).await?
                    } else {
                        let current = running
                            .first()
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
                        if *interactive {
                            let code = exec_new_attached(conn, spec, cmd).await?;
                            return exit_status(&host.host, code);
                        }
                        exec_new(ctx, conn, &host.host, spec, cmd).await?
                    };
                    if code != 0 {
                        failed.push(format!("{} ({}): exit status {code}", host.host, role.role));
                    }
                    break;
                }
                AppCommand::Stop => {
                    for c in &running {
                        engine::stop(&conn.docker, &c.name, plan.stop_grace).await?;
                        say(&format!("{}: stopped {}", role.role, c.name));
                    }
                }
                AppCommand::Start => match list.first() {
                    Some(c) if !c.running => {
                        engine::start(&conn.docker, &c.name).await?;
                        say(&format!("{}: started {}", role.role, c.name));
                    }
                    Some(c) => say(&format!("{}: {} already running", role.role, c.name)),
                    None => say(&format!("{}: nothing deployed", role.role)),
                },
                AppCommand::Images => {}
                AppCommand::Remove { .. } => {
                    for c in &list {
                        engine::remove(&conn.docker, &c.name).await?;
                        say(&format!("{}: removed {}", role.role, c.name));
                    }
                    if role.route.is_some() {
                        let path = crate::proxy::control::service_path(&role.prefix, None);
                        if let Err(e) =
                            crate::proxy::on_host::control(conn, hyper::Method::DELETE, &path, None)
                                .await
                        {
                            ctx.out
                                .warn(format!("{}: removing the proxy route: {e:#}", host.host));
                        }
                    }
                }
                AppCommand::Maintenance { .. } | AppCommand::Live => {
                    if role.route.is_none() {
                        continue;
                    }
                    let (action, body, now) = match cmd {
                        AppCommand::Maintenance { message } => (
                            "stop",
                            Some(serde_json::json!({ "message": message })),
                            "in maintenance",
                        ),
                        _ => ("resume", None, "live"),
                    };
                    let path = crate::proxy::control::service_path(&role.prefix, Some(action));
                    crate::proxy::on_host::control(conn, hyper::Method::POST, &path, body)
                        .await
                        .map_err(|e| {
                            fail(
                                Kind::Remote,
                                format!(
                                    "{}: {}: {e:#} (is the app deployed there? a proxy booted \
                                     by an older dhow has no maintenance mode: replace it with \
                                     `docker rm -f dhow-proxy` on the host and deploy again)",
                                    host.host, role.role
                                ),
                            )
                        })?;
                    say(&format!("{}: {now}", role.role));
                }
                AppCommand::Boot => {}
            }
        }
        if matches!(cmd, AppCommand::Images | AppCommand::Remove { .. }) {
            let filters: HashMap<&str, Vec<String>> =
                HashMap::from([("reference", vec![plan.image.clone()])]);
            let opts = ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build();
            let images = conn
                .docker
                .list_images(Some(opts))
                .await
                .map_err(|e| fail(Kind::Remote, format!("{}: list images: {e}", host.host)))?;
            for img in images {
                for tag in img.repo_tags {
                    if matches!(cmd, AppCommand::Remove { .. }) {
                        let _ = conn
                            .docker
                            .remove_image(
                                &tag,
                                None::<bollard::query_parameters::RemoveImageOptions>,
                                None,
                            )
                            .await;
                        say(&format!("removed image {tag}"));
                    } else {
                        say(&format!("{tag} ({} MB)", img.size / 1_000_000));
                    }
                }
            }
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

async fn boot(ctx: &Ctx) -> anyhow::Result<()> {
    let version = match ctx.explicit_version() {
        Some(v) => v,
        None => {
            let probe = ctx.targets()?;
            let conns = ctx.connect(&probe.host_names()).await?;
            let inv = super::versions::inventory(&probe, &conns).await?;
            inv.iter()
                .flat_map(|(_, _, l)| l.iter().find(|c| c.running).map(|c| c.version.clone()))
                .next()
                .ok_or_else(|| {
                    fail(
                        Kind::Usage,
                        "nothing is running; pass --version to boot a delivered version",
                    )
                })?
        }
    };
    let args = super::deploy::DeployArgs {
        skip_push: true,
        dry_run: false,
        lock_wait: None,
        message: Some(format!("app boot {version}")),
    };
    super::deploy::deploy_version(ctx, &args, Movement::Redeploy, &version).await
}

pub(crate) async fn logs(
    ctx: &Ctx,
    conn: &crate::host::conn::HostConn,
    host: &str,
    name: &str,
    args: &LogsArgs,
) -> anyhow::Result<()> {
    let grep = args.grep.as_deref();
    let mut opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(args.follow)
        .tail(&args.lines.to_string());
    if let Some(ago) = args.since {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        opts = opts.since(now.saturating_sub(ago.as_secs()) as i32);
    }
    let opts = opts.build();
    let mut stream = conn.docker.logs(name, Some(opts));
    let mut cancel = ctx.cancel_signal();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(chunk)) => {
                    for line in chunk.to_string().lines() {
                        if grep.is_none_or(|g| line.contains(g)) {
                            ctx.out.host_line(host, "stdout", line);
                        }
                    }
                }
                Some(Err(e)) => return Err(fail(Kind::Remote, format!("{host}: logs of {name}: {e}"))),
                None => return Ok(()),
            },
            _ = cancel.changed() => return Ok(()),
        }
    }
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
    conn: &crate::host::conn::HostConn,
    name: &str,
    cmd: &[String],
) -> anyhow::Result<u32> {
    let tty = crate::host::ssh::terminal_attached();
    let words: Vec<String> = cmd.iter().map(|w| crate::host::shell::quote(w)).collect();
    let line = format!(
        "docker exec -i{} {} {}",
        if tty { "t" } else { "" },
        crate::host::shell::quote(name),
        words.join(" ")
    );
    conn.shell.exec_interactive(&line).await
}

/// A new container of the app's image and env, attached to this terminal, removed after.
async fn exec_new_attached(
    conn: &crate::host::conn::HostConn,
    spec: crate::deploy::container::ContainerSpec,
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
        .exec_interactive(&format!(
            "docker start -ai {}",
            crate::host::shell::quote(&name)
        ))
        .await;
    engine::remove(&conn.docker, &name).await?;
    result
}

/// A one-off container of the app running `cmd` (for `app exec`): its name and create body,
/// with no restart policy and not labelled as an app container.
fn one_off(
    mut spec: crate::deploy::container::ContainerSpec,
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
    conn: &crate::host::conn::HostConn,
    name: &str,
    body: bollard::models::ContainerCreateBody,
) -> anyhow::Result<()> {
    let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
        .name(name)
        .build();
    engine::timed(
        &format!("{}: create exec container", conn.name),
        conn.docker.create_container(Some(opts), body),
    )
    .await?;
    Ok(())
}

pub(crate) async fn exec_in(
    ctx: &Ctx,
    conn: &crate::host::conn::HostConn,
    host: &str,
    name: &str,
    cmd: &[String],
) -> anyhow::Result<i64> {
    let exec = conn
        .docker
        .create_exec(
            name,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            fail(
                Kind::Remote,
                format!("{host}: exec in {name}: {}", engine::docker_message(&e)),
            )
        })?;
    if let StartExecResults::Attached { mut output, .. } = conn
        .docker
        .start_exec(&exec.id, None)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{host}: exec: {e}")))?
    {
        while let Some(Ok(chunk)) = output.next().await {
            for line in chunk.to_string().lines() {
                ctx.out.host_line(host, "stdout", line);
            }
        }
    }
    let info = conn
        .docker
        .inspect_exec(&exec.id)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{host}: exec: {e}")))?;
    Ok(info.exit_code.unwrap_or(-1))
}

async fn exec_new(
    ctx: &Ctx,
    conn: &crate::host::conn::HostConn,
    host: &str,
    spec: crate::deploy::container::ContainerSpec,
    cmd: &[String],
) -> anyhow::Result<i64> {
    let (name, body) = one_off(spec, cmd)?;
    create_one_off(conn, &name, body).await?;
    engine::start(&conn.docker, &name).await?;
    let mut wait = conn
        .docker
        .wait_container(&name, None::<WaitContainerOptions>);
    let code = match wait.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => {
            return Err(fail(
                Kind::Remote,
                format!("{host}: waiting for the exec container: {e}"),
            ))
        }
        None => -1,
    };
    let out = engine::logs_tail(&conn.docker, &name, 10_000).await;
    for line in out.lines() {
        ctx.out.host_line(host, "stdout", line);
    }
    engine::remove(&conn.docker, &name).await?;
    Ok(code)
}
