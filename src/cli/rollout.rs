//! `dhow rollout status|set|finish|abort`: the canary `dhow deploy --canary` started, as every
//! selected host's proxy runs it. `status` reads each side's counters; `set` changes the
//! share; `finish` is a plan (`Movement::Finish`): the canary's containers take all traffic,
//! the old ones drain and stop, the roles not proxied start the version; `abort` sends every
//! client back and stops the canary's containers. All but `status` take the deploy lock and
//! write the audit log, as a deploy does.

use super::context::{Conns, Ctx};
use super::deploy::{locked, parse_percent, run_plan, with_primary};
use crate::deploy::host_ops::HostOps;
use crate::deploy::plan::{Movement, Plan};
use crate::deploy::routes;
use crate::deploy::targets::Targets;
use crate::docker::containers;
use crate::error::{fail, Kind};
use crate::output::out_line;
use crate::proxy::canary as px;
use dhow_proxy_api::{StatsAnswer, VersionStats};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RolloutCommand {
    /// Each version's share, requests, 5xx rate and p99 per host and role, and over all hosts.
    Status,
    /// Send PERCENT of clients to the canary (0 to 100); a larger share keeps every client the
    /// smaller one had.
    Set {
        #[arg(value_parser = parse_percent)]
        percent: f64,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// All traffic to the canary's version, then the old containers drain and stop; roles not
    /// served through the proxy start the version.
    Finish {
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Every client back on the current version; the canary's containers drain and stop.
    Abort {
        #[command(flatten)]
        lock: LockArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// Wait up to this long for a held deploy lock instead of failing at once (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration)]
    pub lock_wait: Option<Duration>,
    /// A note recorded in the lock and the audit log.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
}

/// One proxied role on one host, as its proxy sees it.
#[derive(Debug, Clone, serde::Serialize)]
struct Seen {
    host: String,
    role: String,
    /// The proxy's name for the role's service.
    service: String,
    /// None: the proxy does not route the role.
    stats: Option<StatsAnswer>,
}

impl Seen {
    fn canary_version(&self) -> Option<&str> {
        Some(self.stats.as_ref()?.canary.as_ref()?.version.as_str())
    }
}

pub async fn run(ctx: &Ctx, cmd: &RolloutCommand) -> anyhow::Result<()> {
    let targets = ctx.targets()?;
    let hosts = with_primary(targets.host_names(), &targets.primary_host);
    let conns = ctx.connect(&hosts).await?;
    let seen = survey(&targets, &conns).await?;
    match cmd {
        RolloutCommand::Status => {
            status(ctx, &seen);
            Ok(())
        }
        RolloutCommand::Set { percent, lock } => set(ctx, &conns, &seen, *percent, lock).await,
        RolloutCommand::Finish { lock } => finish(ctx, &conns, &seen, lock).await,
        RolloutCommand::Abort { lock } => abort(ctx, &targets, &conns, &seen, lock).await,
    }
}

/// Every proxied role on every selected host, with its proxy's counters.
async fn survey(targets: &Targets, conns: &Conns) -> anyhow::Result<Vec<Seen>> {
    let work = targets.hosts.iter().flat_map(|h| {
        h.roles
            .iter()
            .filter(|r| r.route.is_some())
            .map(move |r| async move {
                let conn = conns
                    .get(&h.host)
                    .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", h.host)))?;
                let service = routes::name_on(conn, &r.prefix).await;
                let stats = px::stats(conn, &service)
                    .await
                    .map_err(|e| fail(Kind::Remote, format!("{}: {e:#}", h.host)))?;
                Ok::<_, anyhow::Error>(Seen {
                    host: h.host.clone(),
                    role: r.role.clone(),
                    service,
                    stats,
                })
            })
    });
    let seen: Vec<Seen> = futures::future::try_join_all(work).await?;
    if seen.is_empty() {
        return Err(fail(
            Kind::Usage,
            "none of the selected roles is served through the proxy: a canary needs one",
        ));
    }
    Ok(seen)
}

/// The one canary version the selection runs; an error when there is none or they differ.
fn the_canary(seen: &[Seen]) -> anyhow::Result<String> {
    let mut versions: Vec<&str> = seen.iter().filter_map(Seen::canary_version).collect();
    versions.sort();
    versions.dedup();
    match versions[..] {
        [] => Err(fail(
            Kind::Usage,
            "no canary runs on the selected hosts: start one with `dhow deploy --canary PERCENT`",
        )),
        [one] => Ok(one.to_string()),
        _ => Err(fail(
            Kind::Usage,
            format!(
                "the selected hosts run canaries of different versions ({}): select the hosts \
                 of one with -h",
                versions.join(", ")
            ),
        )),
    }
}

fn status(ctx: &Ctx, seen: &[Seen]) {
    ctx.out.data("rollout", &seen, || {
        out_line!(
            "{:<24} {:<10} {:<7} {:<14} {:>6} {:>9} {:>7} {:>8}",
            "HOST",
            "ROLE",
            "SIDE",
            "VERSION",
            "SHARE",
            "REQUESTS",
            "5XX",
            "P99"
        );
        for s in seen {
            let Some(stats) = &s.stats else {
                out_line!("{:<24} {:<10} not routed by the proxy", s.host, s.role);
                continue;
            };
            let Some(c) = &stats.canary else {
                out_line!("{:<24} {:<10} no canary", s.host, s.role);
                continue;
            };
            for v in &stats.versions {
                let share = if v.side == "canary" {
                    c.percent
                } else {
                    100.0 - c.percent
                };
                out_line!("{}", row(&s.host, &s.role, v, share));
            }
        }
        for (_, v) in totals(seen) {
            out_line!("{}", row("(all hosts)", "", &v, f64::NAN));
        }
    });
}

fn row(host: &str, role: &str, v: &VersionStats, share: f64) -> String {
    let share = if share.is_nan() {
        "-".to_string()
    } else {
        format!("{share}%")
    };
    let p99 = v.p99_ms.map_or("-".to_string(), |ms| format!("{ms}ms"));
    format!(
        "{host:<24} {role:<10} {:<7} {:<14} {share:>6} {:>9} {:>6.2}% {p99:>8}",
        v.side,
        v.version,
        v.requests,
        v.error_rate * 100.0
    )
}

/// Each side over every host: requests and errors summed, the largest p99.
fn totals(seen: &[Seen]) -> Vec<(String, VersionStats)> {
    let mut out: Vec<(String, VersionStats)> = Vec::new();
    let sides = seen
        .iter()
        .filter_map(|s| s.stats.as_ref())
        .filter(|s| s.canary.is_some())
        .flat_map(|s| s.versions.iter());
    for v in sides {
        let at = match out
            .iter()
            .position(|(side, t)| *side == v.side && t.version == v.version)
        {
            Some(i) => i,
            None => {
                let empty = VersionStats {
                    side: v.side.clone(),
                    version: v.version.clone(),
                    ..Default::default()
                };
                out.push((v.side.clone(), empty));
                out.len() - 1
            }
        };
        let t = &mut out[at].1;
        t.requests += v.requests;
        t.errors += v.errors;
        t.p99_ms = match (t.p99_ms, v.p99_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        t.error_rate = if t.requests == 0 {
            0.0
        } else {
            t.errors as f64 / t.requests as f64
        };
    }
    out
}

/// A plan of the canary's version over the roles it runs in, for the lock and the audit log.
fn canary_plan(ctx: &Ctx, version: &str, seen: &[Seen]) -> anyhow::Result<Plan> {
    let mut plan = ctx.plan(version, Movement::Redeploy, true)?;
    for h in &mut plan.hosts {
        let host = h.host.clone();
        h.roles
            .retain(|r| seen.iter().any(|s| s.host == host && s.role == r.role));
    }
    Ok(plan)
}

async fn set(
    ctx: &Ctx,
    conns: &Conns,
    seen: &[Seen],
    percent: f64,
    lock: &LockArgs,
) -> anyhow::Result<()> {
    let version = the_canary(seen)?;
    let plan = canary_plan(ctx, &version, seen)?;
    let note = with_note(&format!("{percent}% of clients"), lock);
    locked(
        ctx,
        &plan,
        "rollout set",
        conns,
        lock.lock_wait,
        Some(&note),
        || async {
            let work = seen
                .iter()
                .filter(|s| s.canary_version().is_some())
                .map(|s| async move {
                    let conn = conns
                        .get(&s.host)
                        .ok_or_else(|| fail(Kind::Internal, "no connection"))?;
                    px::share(conn, &s.service, percent)
                        .await
                        .map_err(|e| fail(Kind::Remote, format!("{} {}: {e:#}", s.host, s.role)))
                });
            futures::future::try_join_all(work).await.map(|_| ())
        },
    )
    .await?;
    ctx.out
        .info(format!("canary {version}: {percent}% of clients"));
    Ok(())
}

async fn finish(ctx: &Ctx, conns: &Conns, seen: &[Seen], lock: &LockArgs) -> anyhow::Result<()> {
    let version = the_canary(seen)?;
    let missing: Vec<String> = seen
        .iter()
        .filter(|s| s.canary_version() != Some(version.as_str()))
        .map(|s| format!("{} {}", s.host, s.role))
        .collect();
    if !missing.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!(
                "the canary of {version} does not run on {}: run `dhow deploy --canary` of it \
                 again (it starts it where it is missing), or `dhow rollout abort`",
                missing.join(", ")
            ),
        ));
    }
    let plan = ctx.plan(&version, Movement::Finish, true)?;
    let hooks = ctx.hooks(&plan);
    let note = lock.message.clone();
    locked(
        ctx,
        &plan,
        "rollout finish",
        conns,
        lock.lock_wait,
        note.as_deref(),
        || async {
            hooks.run("pre-app-boot", &[]).await?;
            run_plan(ctx, &plan, conns).await?;
            hooks.run("post-app-boot", &[]).await.map(|_| ())
        },
    )
    .await?;
    ctx.out.info(format!(
        "finished: {} {version} serves every client",
        plan.service
    ));
    Ok(())
}

async fn abort(
    ctx: &Ctx,
    targets: &Targets,
    conns: &Conns,
    seen: &[Seen],
    lock: &LockArgs,
) -> anyhow::Result<()> {
    let version = the_canary(seen)?;
    let plan = canary_plan(ctx, &version, seen)?;
    let drain = plan.drain_timeout;
    let version = version.as_str();
    let note = lock.message.clone();
    locked(
        ctx,
        &plan,
        "rollout abort",
        conns,
        lock.lock_wait,
        note.as_deref(),
        || async {
            let work = seen
                .iter()
                .filter(|s| s.canary_version().is_some())
                .map(|s| async move {
                    let conn = conns
                        .get(&s.host)
                        .ok_or_else(|| fail(Kind::Internal, "no connection"))?;
                    let on = |e: anyhow::Error| {
                        fail(Kind::Remote, format!("{} {}: {e:#}", s.host, s.role))
                    };
                    px::abort(conn, &s.service, drain).await.map_err(on)?;
                    let list = containers::service_containers(
                        &conn.docker,
                        &targets.service,
                        targets.destination.as_deref(),
                        Some(&s.role),
                    )
                    .await
                    .map_err(on)?;
                    for c in list.iter().filter(|c| c.running && c.version == version) {
                        conn.stop(&c.name, targets.stop_grace).await.map_err(on)?;
                    }
                    Ok::<_, anyhow::Error>(())
                });
            futures::future::try_join_all(work).await.map(|_| ())
        },
    )
    .await?;
    ctx.out.info(format!(
        "aborted: the canary of {version} is stopped, every client is on the version before it"
    ));
    Ok(())
}

fn with_note(what: &str, lock: &LockArgs) -> String {
    match &lock.message {
        Some(m) if !m.trim().is_empty() => format!("{what}; {}", m.trim()),
        _ => what.to_string(),
    }
}
