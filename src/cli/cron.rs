//! `dhow cron list|run|logs`: cron roles (`[servers.<role>]` with a `schedule`; how they run
//! on hosts is deploy/cron.rs). `list` shows each role's schedule and next run with each
//! host's last run; `run NAME` runs the role's command now on its hosts, output streamed, and
//! exits with the run's status; `logs NAME` prints the kept output of past runs.

use super::context::Ctx;
use crate::deploy::cron::{history, run_now, run_output};
use crate::deploy::settings::{RoleSettings, Settings};
use crate::docker::containers::service_containers;
use crate::error::{exit_with, fail, Kind};
use crate::host::conn::HostConn;
use dhow_proxy_api::cron::{RunRecord, BUSY_EXIT};
use serde::Serialize;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum CronCommand {
    /// Each cron role's schedule and next run (UTC), and each host's last run with its exit
    /// status.
    List,
    /// Run cron role NAME's command now, once, on each of its hosts (through the role's lock:
    /// refused while a run goes), its output streamed; dhow exits with the run's status.
    Run {
        /// The cron role.
        name: String,
    },
    /// The kept output of cron role NAME's past runs (newest last).
    Logs {
        /// The cron role.
        name: String,
        /// Only this host of the role.
        #[arg(long)]
        host: Option<String>,
        /// How many runs per host.
        #[arg(short = 'n', long, default_value_t = 5)]
        runs: usize,
    },
}

/// One host's view of a cron role, as `cron list` prints it.
#[derive(Serialize)]
struct Listed<'a> {
    role: &'a str,
    host: &'a str,
    schedule: &'a str,
    next_run: Option<String>,
    /// The version whose container runs the schedule there (none: not deployed).
    version: Option<String>,
    last_run: Option<RunRecord>,
}

/// A past run with its output, as `cron logs` prints it.
#[derive(Serialize)]
struct Logged<'a> {
    role: &'a str,
    host: &'a str,
    #[serde(flatten)]
    run: &'a RunRecord,
    output: String,
}

pub async fn run(ctx: &Ctx, cmd: &CronCommand) -> anyhow::Result<()> {
    let s = ctx.settings()?;
    match cmd {
        CronCommand::List => list(ctx, s).await,
        CronCommand::Run { name } => run_role(ctx, s, cron_role(s, name)?).await,
        CronCommand::Logs { name, host, runs } => {
            logs(ctx, s, cron_role(s, name)?, host.as_deref(), *runs).await
        }
    }
}

fn cron_role<'a>(s: &'a Settings, name: &str) -> anyhow::Result<&'a RoleSettings> {
    let crons: Vec<&str> = s
        .roles
        .iter()
        .filter(|r| r.cron.is_some())
        .map(|r| r.name.as_str())
        .collect();
    match s.roles.iter().find(|r| r.name == name) {
        Some(r) if r.cron.is_some() && !r.hosts.is_empty() => Ok(r),
        Some(r) if r.cron.is_some() => Err(fail(
            Kind::Usage,
            format!("cron role {name}: none of its hosts is selected"),
        )),
        _ => Err(fail(
            Kind::Usage,
            format!(
                "no cron role {name} (cron roles: {})",
                if crons.is_empty() {
                    "none: give a role a schedule".to_string()
                } else {
                    crons.join(", ")
                }
            ),
        )),
    }
}

async fn list(ctx: &Ctx, s: &Settings) -> anyhow::Result<()> {
    let roles: Vec<&RoleSettings> = s.roles.iter().filter(|r| r.cron.is_some()).collect();
    if roles.is_empty() {
        ctx.out
            .info("no cron roles (a role with `schedule = \"...\"` is one)");
        return Ok(());
    }
    let hosts: Vec<String> = s
        .host_names()
        .into_iter()
        .filter(|h| roles.iter().any(|r| r.hosts.contains(h)))
        .collect();
    let conns = ctx.connect(&hosts).await?;
    let key = s.lock_key();
    for role in roles {
        let Some(cron) = &role.cron else { continue };
        let next_run = dhow_proxy_api::cron::parse(&cron.schedule)
            .ok()
            .and_then(|p| p.next_after(chrono::Utc::now()))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        for host in &role.hosts {
            let Some(conn) = conns.get(host) else {
                continue;
            };
            let version = running_version(s, conn, &role.name).await?;
            let last_run = history(conn.shell.as_ref(), &key, &role.name, 1)
                .await?
                .pop();
            let row = Listed {
                role: &role.name,
                host,
                schedule: &cron.schedule,
                next_run: next_run.clone(),
                version,
                last_run,
            };
            ctx.out.data("cron_role", &row, || {
                ctx.out.host_line(host, "stdout", &list_line(&row));
            });
        }
    }
    Ok(())
}

fn list_line(r: &Listed) -> String {
    let last = match &r.last_run {
        None => "no run yet".to_string(),
        Some(run) => format!("last run {}", describe(run)),
    };
    format!(
        "{}: `{}` next {} · {} · {last}",
        r.role,
        r.schedule,
        r.next_run.as_deref().unwrap_or("never"),
        r.version
            .as_deref()
            .map_or("not running".to_string(), |v| format!("version {v}")),
    )
}

/// `started (trigger): exit N` or the note.
fn describe(run: &RunRecord) -> String {
    let how = match (run.exit_code, &run.note) {
        (_, Some(note)) if run.finished.is_none() => note.clone(),
        (Some(c), Some(note)) => format!("exit {c} ({note})"),
        (Some(c), None) => format!("exit {c}"),
        (None, Some(note)) => note.clone(),
        (None, None) => "no exit status".into(),
    };
    let trigger = match run.trigger {
        dhow_proxy_api::cron::Trigger::Scheduled => "scheduled",
        dhow_proxy_api::cron::Trigger::Manual => "manual",
    };
    format!(
        "{} ({trigger}, version {}): {how}",
        run.started, run.version
    )
}

/// The running container of `role` on a host: (name, version).
async fn running(
    s: &Settings,
    conn: &HostConn,
    role: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let list = service_containers(
        &conn.docker,
        &s.service,
        s.destination.as_deref(),
        Some(role),
    )
    .await?;
    Ok(list
        .into_iter()
        .find(|c| c.running)
        .map(|c| (c.name, c.version)))
}

async fn running_version(
    s: &Settings,
    conn: &HostConn,
    role: &str,
) -> anyhow::Result<Option<String>> {
    Ok(running(s, conn, role).await?.map(|(_, v)| v))
}

async fn run_role(ctx: &Ctx, s: &Settings, role: &RoleSettings) -> anyhow::Result<()> {
    let conns = ctx.connect(&role.hosts).await?;
    let runs = role
        .hosts
        .iter()
        .filter_map(|h| conns.get(h).map(|c| (h, c)))
        .map(|(host, conn)| async move {
            let Some((name, _)) = running(s, conn, &role.name).await? else {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{host}: cron role {} is not running (deploy first)",
                        role.name
                    ),
                ));
            };
            let code = run_now(conn, &name, |line| ctx.out.host_line(host, "stdout", line)).await?;
            Ok::<_, anyhow::Error>((host.clone(), code))
        });
    let mut failed = Vec::new();
    let mut first_code = 0;
    for r in futures::future::join_all(runs).await {
        let (host, code) = r?;
        ctx.out.data(
            "cron_run",
            &serde_json::json!({ "role": role.name, "host": host, "exit_code": code }),
            || {
                ctx.out
                    .info(format!("{host}: {}: exit status {code}", role.name))
            },
        );
        if code != 0 {
            if first_code == 0 {
                first_code = code;
            }
            failed.push(if code == i64::from(BUSY_EXIT) {
                format!("{host}: a run was already going; nothing was started")
            } else {
                format!("{host}: exit status {code}")
            });
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(exit_with(
            first_code,
            format!("cron role {}: {}", role.name, failed.join("; ")),
        ))
    }
}

async fn logs(
    ctx: &Ctx,
    s: &Settings,
    role: &RoleSettings,
    only: Option<&str>,
    n: usize,
) -> anyhow::Result<()> {
    let hosts: Vec<String> = match only {
        Some(h) if role.hosts.iter().any(|x| x == h) => vec![h.to_string()],
        Some(h) => {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{h} is not a (selected) host of cron role {} (its hosts: {})",
                    role.name,
                    role.hosts.join(", ")
                ),
            ))
        }
        None => role.hosts.clone(),
    };
    let conns = ctx.connect(&hosts).await?;
    let key = s.lock_key();
    for host in &hosts {
        let Some(conn) = conns.get(host) else {
            continue;
        };
        let runs = history(conn.shell.as_ref(), &key, &role.name, n).await?;
        if runs.is_empty() {
            ctx.out.data(
                "cron_no_runs",
                &serde_json::json!({ "role": role.name, "host": host }),
                || {
                    ctx.out
                        .host_line(host, "stdout", &format!("{}: no runs yet", role.name))
                },
            );
        }
        for run in &runs {
            let output = run_output(conn.shell.as_ref(), &key, &role.name, &run.id).await?;
            let entry = Logged {
                role: &role.name,
                host,
                run,
                output,
            };
            ctx.out.data("cron_log", &entry, || {
                ctx.out
                    .host_line(host, "stdout", &format!("── run {}", describe(run)));
                for line in entry.output.lines() {
                    ctx.out.host_line(host, "stdout", line);
                }
            });
        }
    }
    Ok(())
}
