//! `dhow accessory ...`: the config's accessories (databases, caches) on their hosts: boot,
//! reboot, upgrade, start, stop, restart, details, logs, exec, remove; NAME or `all`. Hosts
//! of one accessory are handled at once (upgrade --rolling: one after another), accessories
//! one after another by name.

use super::context::Ctx;
use crate::accessory::ops::{self, Booted};
use crate::accessory::AccessorySettings;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AccessoryCommand {
    /// Boot where it is not running yet: image, files, directories, container.
    Boot {
        /// The accessory (a key of [accessories]), or all.
        name: String,
    },
    /// Replace the container with one from the current config (data kept).
    Reboot {
        /// The accessory (a key of [accessories]), or all.
        name: String,
    },
    /// Kamal's upgrade: reboot the accessory on every host on its current config, in the
    /// `dhow` network (image pulled, container replaced, data directories and volumes kept);
    /// asks first. --rolling does one host at a time.
    Upgrade {
        /// The accessory (a key of [accessories]), or all.
        name: String,
        /// One host at a time (each rebooted before the next starts).
        #[arg(long)]
        rolling: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Start the stopped container.
    Start {
        /// The accessory (a key of [accessories]), or all.
        name: String,
    },
    /// Stop the container (data kept).
    Stop {
        /// The accessory (a key of [accessories]), or all.
        name: String,
    },
    /// Restart the container.
    Restart {
        /// The accessory (a key of [accessories]), or all.
        name: String,
    },
    /// Its container, image, port and mounts on each host.
    Details {
        /// The accessory (a key of [accessories]), or all.
        #[arg(default_value = "all")]
        name: String,
    },
    /// Its logs.
    Logs {
        /// The accessory (a key of [accessories]).
        name: String,
        #[command(flatten)]
        args: super::app::LogsArgs,
    },
    /// Run a command in the running container, e.g. `dhow accessory exec db psql -c 'select 1'`.
    Exec {
        /// The accessory (a key of [accessories]).
        name: String,
        /// Attached to this terminal (a TTY when there is one), e.g. `exec -i db psql`.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The command and its arguments.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Remove the container, its image (when unused) and its uploaded files. Data
    /// directories and named volumes are kept.
    Remove {
        /// The accessory (a key of [accessories]), or all.
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

impl AccessoryCommand {
    fn name(&self) -> &str {
        match self {
            AccessoryCommand::Boot { name }
            | AccessoryCommand::Reboot { name }
            | AccessoryCommand::Upgrade { name, .. }
            | AccessoryCommand::Start { name }
            | AccessoryCommand::Stop { name }
            | AccessoryCommand::Restart { name }
            | AccessoryCommand::Details { name }
            | AccessoryCommand::Logs { name, .. }
            | AccessoryCommand::Exec { name, .. }
            | AccessoryCommand::Remove { name, .. } => name,
        }
    }
}

/// The accessories NAME (or `all`) stands for, those on no selected host left out.
pub fn chosen(ctx: &Ctx, name: &str) -> anyhow::Result<Vec<AccessorySettings>> {
    let all = &ctx.settings()?.accessories;
    if all.is_empty() {
        return Err(fail(
            Kind::Usage,
            "the config has no [accessories.*]; see docs/config.md#accessories",
        ));
    }
    let picked: Vec<AccessorySettings> = if name == "all" {
        all.clone()
    } else {
        let a = all.iter().find(|a| a.name == name).ok_or_else(|| {
            fail(
                Kind::Usage,
                format!(
                    "no accessory `{name}`; accessories: {} (or all)",
                    all.iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        vec![a.clone()]
    };
    let on_hosts: Vec<AccessorySettings> =
        picked.into_iter().filter(|a| !a.hosts.is_empty()).collect();
    if on_hosts.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!("accessory {name} runs on none of the hosts selected with -h"),
        ));
    }
    Ok(on_hosts)
}

/// What a command that changes an accessory holds the deploy lock for (details, logs and
/// exec only look or run a command, and may run for long: no lock).
pub fn locking(cmd: &AccessoryCommand) -> Option<&'static str> {
    match cmd {
        AccessoryCommand::Boot { .. } => Some("accessory boot"),
        AccessoryCommand::Reboot { .. } => Some("accessory reboot"),
        AccessoryCommand::Upgrade { .. } => Some("accessory upgrade"),
        AccessoryCommand::Start { .. } => Some("accessory start"),
        AccessoryCommand::Stop { .. } => Some("accessory stop"),
        AccessoryCommand::Restart { .. } => Some("accessory restart"),
        AccessoryCommand::Remove { .. } => Some("accessory remove"),
        _ => None,
    }
}

pub async fn run(ctx: &Ctx, cmd: &AccessoryCommand) -> anyhow::Result<()> {
    let mut list = chosen(ctx, cmd.name())?;
    if let AccessoryCommand::Exec {
        interactive: true, ..
    } = cmd
    {
        // One terminal, one host: the first (pick another with -h).
        list.truncate(1);
        if let Some(first) = list.first_mut() {
            first.hosts.truncate(1);
        }
    }
    if let AccessoryCommand::Remove { yes: false, .. } = cmd {
        let what: Vec<String> = list
            .iter()
            .map(|a| format!("{} ({})", a.name, a.hosts.join(", ")))
            .collect();
        if !super::context::confirm(&format!(
            "Remove accessory {}? Containers and uploaded files go; data directories and volumes stay.",
            what.join(", ")
        ))? {
            return Err(fail(
                Kind::Usage,
                "not confirmed; nothing removed (use -y to skip the question)",
            ));
        }
    }
    if let AccessoryCommand::Upgrade { yes: false, .. } = cmd {
        let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
        if !super::context::confirm(&format!(
            "Reboot accessory {} on its hosts? Each is down while its container is replaced; data stays.",
            names.join(", ")
        ))? {
            return Err(fail(
                Kind::Usage,
                "not confirmed; nothing rebooted (use -y to skip the question)",
            ));
        }
    }
    let mut hosts: Vec<String> = Vec::new();
    for h in list.iter().flat_map(|a| a.hosts.iter()) {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    let conns = ctx.connect(&hosts).await?;
    let mut failed = Vec::new();
    let rolling = matches!(cmd, AccessoryCommand::Upgrade { rolling: true, .. });
    for a in &list {
        // --rolling: one host per group; else all of the accessory's hosts at once.
        let groups: Vec<&[String]> = if rolling {
            a.hosts.chunks(1).collect()
        } else {
            vec![&a.hosts[..]]
        };
        for group in groups {
            let tasks = group.iter().map(|h| {
                let conn = conns.get(h).cloned();
                async move {
                    let conn =
                        conn.ok_or_else(|| fail(Kind::Internal, format!("no connection to {h}")))?;
                    on_host(ctx, cmd, a, &conn).await
                }
            });
            for (h, r) in group.iter().zip(futures::future::join_all(tasks).await) {
                if let Err(e) = r {
                    failed.push(format!("{h}: {e:#}"));
                }
            }
            if rolling && !failed.is_empty() {
                break;
            }
        }
    }
    if !failed.is_empty() {
        return Err(fail(
            Kind::Remote,
            format!("failed on:\n  {}", failed.join("\n  ")),
        ));
    }
    Ok(())
}

async fn on_host(
    ctx: &Ctx,
    cmd: &AccessoryCommand,
    a: &AccessorySettings,
    conn: &HostConn,
) -> anyhow::Result<()> {
    let h = &conn.name;
    let say = |line: &str| {
        ctx.out
            .host_line(h, "stdout", &format!("{}: {line}", a.name))
    };
    let registry = ctx
        .settings()?
        .registry
        .as_ref()
        .map(crate::image::pull::RegistryAccess::from);
    let log = |l: &str| ctx.out.debug(format!("{h}: {l}"));
    let missing = || {
        fail(
            Kind::Usage,
            format!(
                "{h}: accessory {} is not booted (dhow accessory boot {})",
                a.name, a.name
            ),
        )
    };
    match cmd {
        AccessoryCommand::Boot { .. } => match ops::boot(conn, a, registry.as_ref(), log).await? {
            Booted::AlreadyRunning => say("already running"),
            Booted::Started => say("started (the container was there, stopped)"),
            Booted::Created { delivered, placed } => booted(&say, a, &delivered, &placed),
        },
        AccessoryCommand::Reboot { .. } | AccessoryCommand::Upgrade { .. } => {
            let (delivered, placed) = ops::reboot(conn, a, registry.as_ref(), log).await?;
            booted(&say, a, &delivered, &placed);
        }
        AccessoryCommand::Start { .. } => match ops::state(conn, a).await? {
            None => return Err(missing()),
            Some(true) => say("already running"),
            Some(false) => {
                ops::start(conn, a).await?;
                say("started");
            }
        },
        AccessoryCommand::Stop { .. } => {
            if ops::state(conn, a).await?.is_none() {
                return Err(missing());
            }
            ops::stop(conn, a).await?;
            say("stopped");
        }
        AccessoryCommand::Restart { .. } => {
            if ops::state(conn, a).await?.is_none() {
                return Err(missing());
            }
            ops::stop(conn, a).await?;
            ops::start(conn, a).await?;
            say("restarted");
        }
        AccessoryCommand::Details { .. } => super::accessory_details::details(ctx, conn, a).await,
        AccessoryCommand::Logs { args, .. } => {
            if ops::state(conn, a).await?.is_none() {
                return Err(missing());
            }
            super::app::logs(ctx, conn, h, &a.container, args).await?;
        }
        AccessoryCommand::Exec {
            cmd, interactive, ..
        } => {
            if ops::state(conn, a).await? != Some(true) {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{h}: accessory {} is not running (dhow accessory boot {})",
                        a.name, a.name
                    ),
                ));
            }
            let cmd = &super::app::command_words(cmd)?;
            let code = if *interactive {
                super::app::exec_attached(conn, &a.container, cmd).await? as i64
            } else {
                super::app::exec_in(ctx, conn, h, &a.container, cmd).await?
            };
            if code != 0 {
                return Err(fail(Kind::Remote, format!("exit status {code}")));
            }
        }
        AccessoryCommand::Remove { .. } => {
            let kept = ops::remove(conn, a).await?;
            say("removed (container, unused image, uploaded files)");
            for d in &kept.directories {
                say(&format!(
                    "kept data directory {d} (delete it yourself when sure)"
                ));
            }
            for v in &kept.volumes {
                say(&format!(
                    "kept volume {v} (docker volume rm {v} deletes it)"
                ));
            }
        }
    }
    Ok(())
}

fn booted(
    say: &dyn Fn(&str),
    a: &AccessorySettings,
    delivered: &crate::accessory::image::Delivered,
    placed: &[String],
) {
    say(&format!("booted {} ({delivered})", a.container));
    for p in placed {
        say(&format!("  placed {p}"));
    }
    if let Some(p) = &a.port {
        say(&format!("  port {p}"));
    }
}
