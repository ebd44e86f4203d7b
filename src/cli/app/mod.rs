//! `dhow app ...`: look at and operate the app's containers on the selected hosts: details,
//! containers, images, logs, exec, stop, start, boot, remove, version, maintenance, live,
//! stale_containers.

mod exec;
mod logs;
mod look;
mod stale;

use super::context::Ctx;
use crate::deploy::plan::Movement;
use crate::deploy::targets::{RoleTarget, Targets};
use crate::docker::containers::AppContainer;
use crate::docker::{containers, images};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;

pub(crate) use exec::{command_words, exec_attached, exec_in};
pub(crate) use logs::logs;

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
    /// Prefix each line with the time the engine received it (RFC 3339, `docker logs -t`).
    #[arg(short = 't', long)]
    pub timestamps: bool,
}

/// `app logs`: the shared log options plus the app-only choice of one container.
#[derive(Debug, Clone, clap::Args)]
pub struct AppLogsArgs {
    #[command(flatten)]
    pub logs: LogsArgs,
    /// Only this container (its ID, an ID prefix or its name; any of the app's containers,
    /// running or not), on whichever selected hosts have it.
    #[arg(long, value_name = "ID")]
    pub container_id: Option<String>,
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
    Logs(AppLogsArgs),
    /// Run a command in a new container of the current version, or of --version (brought to
    /// the host first if it is not there: how a pre-deploy hook runs the new version's
    /// migrations), with the app's env and any -e; or in the running container with --reuse.
    /// Its output is shown as it comes.
    Exec {
        /// Run inside the running container instead of a new one.
        #[arg(long)]
        reuse: bool,
        /// Interactive: attached to this terminal (a TTY when there is one), on the first
        /// selected host only.
        #[arg(short = 'i', long, conflicts_with = "detach")]
        interactive: bool,
        /// Start the new container and return its name at once, without waiting for its
        /// output; it is kept after it exits (`docker logs NAME` on the host).
        #[arg(long, conflicts_with = "reuse")]
        detach: bool,
        /// Extra env for the command, KEY=VALUE (repeatable); replaces the app's value of KEY.
        #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = exec::parse_env)]
        env: Vec<(String, String)>,
        /// The command: one argument is split the way a shell would ("bin/rails db:migrate"),
        /// several are the words as given. `--help` anywhere before a `--` prints this help;
        /// after `--` words are the command's own (`-- bin/rails --help`).
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
    /// Containers of the app that run but are not the current version of their role (the
    /// one the proxy routes to, else the newest), e.g. left by an interrupted deploy.
    #[command(name = "stale_containers", visible_alias = "stale-containers")]
    StaleContainers {
        /// Stop them (takes the deploy lock).
        #[arg(short = 's', long)]
        stop: bool,
    },
}

/// What a command that changes what runs holds the deploy lock for (`app boot` takes it as
/// a deploy does; the others only look, or run a command).
pub fn locking(cmd: &AppCommand) -> Option<&'static str> {
    match cmd {
        AppCommand::Stop => Some("app stop"),
        AppCommand::Start => Some("app start"),
        AppCommand::Remove { .. } => Some("app remove"),
        AppCommand::StaleContainers { stop: true } => Some("app stale_containers --stop"),
        _ => None,
    }
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
    match cmd {
        AppCommand::Logs(args) => return logs::app(ctx, &plan, &conns, args).await,
        AppCommand::StaleContainers { stop } => return stale::run(ctx, &plan, &conns, *stop).await,
        c if look::handles(c) => return look::run(ctx, c, &plan, &conns).await,
        AppCommand::Exec {
            reuse,
            interactive,
            detach,
            env,
            cmd,
        } => {
            let req = exec::ExecRequest {
                reuse: *reuse,
                interactive: *interactive,
                detach: *detach,
                env,
                cmd,
            };
            return exec::run(ctx, &plan, &conns, &req).await;
        }
        _ => {}
    }
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        for role in &host.roles {
            let list = containers::service_containers(
                &conn.docker,
                &plan.service,
                plan.destination.as_deref(),
                Some(&role.role),
            )
            .await?;
            on_role(ctx, cmd, &plan, conn, role, &list).await?;
        }
        if matches!(cmd, AppCommand::Remove { .. }) {
            remove_images(ctx, &plan, conn).await?;
        }
    }
    Ok(())
}

/// One command on one role of one host, given the role's containers there (newest first).
async fn on_role(
    ctx: &Ctx,
    cmd: &AppCommand,
    plan: &Targets,
    conn: &HostConn,
    role: &RoleTarget,
    list: &[AppContainer],
) -> anyhow::Result<()> {
    let host = &conn.name;
    let say = |line: &str| ctx.out.host_line(host, "stdout", line);
    let running: Vec<_> = list.iter().filter(|c| c.running).collect();
    match cmd {
        AppCommand::Stop => {
            for c in &running {
                containers::stop(&conn.docker, &c.name, plan.stop_grace).await?;
                say(&format!("{}: stopped {}", role.role, c.name));
            }
        }
        AppCommand::Start => match serving(conn, role, list).await {
            Some(c) => {
                // Every replica of the serving version.
                for r in list.iter().filter(|r| r.version == c.version) {
                    if r.running {
                        say(&format!("{}: {} already running", role.role, r.name));
                    } else {
                        containers::start(&conn.docker, &r.name).await?;
                        say(&format!("{}: started {}", role.role, r.name));
                    }
                }
            }
            None => say(&format!("{}: nothing deployed", role.role)),
        },
        AppCommand::Remove { .. } => {
            for c in list {
                containers::remove(&conn.docker, &c.name).await?;
                say(&format!("{}: removed {}", role.role, c.name));
            }
            if role.route.is_some() {
                let name = crate::deploy::routes::name_on(conn, &role.prefix).await;
                let path = crate::proxy::control::service_path(&name, None);
                if let Err(e) =
                    crate::proxy::on_host::control(conn, hyper::Method::DELETE, &path, None).await
                {
                    ctx.out
                        .warn(format!("{host}: removing the proxy route: {e:#}"));
                }
            }
        }
        AppCommand::Maintenance { .. } | AppCommand::Live if role.route.is_some() => {
            let (action, body, now) = match cmd {
                AppCommand::Maintenance { message } => (
                    "stop",
                    Some(serde_json::json!({ "message": message })),
                    "in maintenance",
                ),
                _ => ("resume", None, "live"),
            };
            let name = crate::deploy::routes::name_on(conn, &role.prefix).await;
            let path = crate::proxy::control::service_path(&name, Some(action));
            crate::proxy::on_host::control(conn, hyper::Method::POST, &path, body)
                .await
                .map_err(|e| {
                    fail(
                        Kind::Remote,
                        format!(
                            "{host}: {}: {e:#} (is the app deployed there? a proxy booted \
                             by an older dhow has no maintenance mode: replace it with \
                             `docker rm -f dhow-proxy` on the host and deploy again)",
                            role.role
                        ),
                    )
                })?;
            say(&format!("{}: {now}", role.role));
        }
        // Images: after the roles (remove_images); the others: handled before.
        _ => {}
    }
    Ok(())
}

/// The container that served the role last, which `app start` starts: a running one; else the
/// one the proxy routes to (for a proxied role); else the one that stopped last (after a
/// rollback that is the rolled-back-to version, not the newest container).
async fn serving<'a>(
    conn: &HostConn,
    role: &RoleTarget,
    list: &'a [AppContainer],
) -> Option<&'a AppContainer> {
    if let Some(c) = list.iter().find(|c| c.running) {
        return Some(c);
    }
    if role.route.is_some() {
        if let Some(routed) = crate::deploy::routes::routed_container(conn, &role.prefix).await {
            if let Some(c) = list.iter().find(|c| c.name == routed) {
                return Some(c);
            }
        }
    }
    let mut latest: Option<(&AppContainer, String)> = None;
    for c in list {
        let finished = match containers::inspect(&conn.docker, &c.name).await {
            Ok(Some(info)) => info.state.and_then(|s| s.finished_at).unwrap_or_default(),
            _ => continue,
        };
        // RFC 3339 times of one engine compare as strings.
        if latest.as_ref().is_none_or(|(_, t)| finished > *t) {
            latest = Some((c, finished));
        }
    }
    latest.map(|(c, _)| c).or(list.first())
}

/// `app remove`: the app's images on a host, after its containers.
async fn remove_images(ctx: &Ctx, plan: &Targets, conn: &HostConn) -> anyhow::Result<()> {
    let host = &conn.name;
    let tags = images::tags(&conn.docker, &plan.image)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")))?;
    for image in tags {
        let _ = images::remove(&conn.docker, &image.tag).await;
        ctx.out
            .host_line(host, "stdout", &format!("removed image {}", image.tag));
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
        canary: None,
        bake: None,
    };
    super::deploy::deploy_version(ctx, &args, Movement::Redeploy, &version).await
}
