//! `dhow deploy`, `dhow redeploy` and `dhow rollback`: the commands that move traffic.
//! Flow: build the one plan (its movement and delivery decide what runs; `--dry-run` prints
//! it and stops), connect to every host (all must answer, else nothing changes), take the lock
//! (so a held lock fails before a long build), build when the plan says so, execute the plan,
//! release the lock (also on failure and Ctrl-C), audit, post-deploy hook, summary.

use super::context::{Conns, Ctx};
use crate::deploy::execute::Execution;
use crate::deploy::lock::{self, LockInfo};
use crate::deploy::plan::{Movement, Plan};
use crate::deploy::{audit, rollback};
use crate::error::{fail, Kind};
use crate::progress::{summary, Progress};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Deploy an image that is already delivered (no build, no push).
    #[arg(long)]
    pub skip_push: bool,
    /// Print the plan per host and role and stop; touches nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait up to this long for a held deploy lock instead of failing at once (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration)]
    pub lock_wait: Option<Duration>,
    /// A note recorded in the lock and the audit log.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Start the new version beside the current one for this share of clients (0 to 100),
    /// sticky per client by a cookie; nothing stops. `dhow rollout` goes on from there
    /// (status, set, finish, abort). Proxied roles only: the others move at `rollout finish`.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub canary: Option<f64>,
    /// A bake window of this length (e.g. 2m; 0: none), instead of deploy.bake: after the
    /// switch the old containers keep running, unrouted, while each host's proxy judges the
    /// new ones; past deploy.bake_max_error_rate or bake_max_p99 it switches back by itself
    /// and the deploy fails with the numbers. With --canary: the canary is judged against
    /// the current version and aborted by the proxies past a limit.
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration)]
    pub bake: Option<Duration>,
}

/// A share of clients: 0 to 100 percent.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage (0 to 100)"))?;
    dhow_proxy_api::basis_points(p).map(|_| p)
}

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The version to go back to (default: the one that served before the current one).
    pub version: Option<String>,
    /// Wait up to this long for a held deploy lock.
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration)]
    pub lock_wait: Option<Duration>,
}

pub async fn deploy(ctx: &Ctx, args: &DeployArgs, redeploy: bool) -> anyhow::Result<()> {
    ctx.settings()?;
    let version = ctx.version()?;
    let movement = if redeploy {
        Movement::Redeploy
    } else {
        Movement::Deploy
    };
    deploy_version(ctx, args, movement, &version).await
}

/// Deploy (or redeploy, or boot) a given version.
pub async fn deploy_version(
    ctx: &Ctx,
    args: &DeployArgs,
    movement: Movement,
    version: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut plan = ctx.plan(version, movement, args.skip_push)?;
    if let Some(window) = args.bake.filter(|_| plan.movement != Movement::Rollback) {
        let limits = ctx.settings()?.bake.clone();
        plan.bake = (!window.is_zero()).then_some(crate::deploy::plan::Bake { window, ..limits });
    }
    if let Some(percent) = args.canary {
        canary_plan(ctx, &mut plan, percent)?;
    }
    if args.dry_run {
        let record = serde_json::json!({ "plan": plan.describe_json() });
        ctx.out
            .data("plan", &record, || print!("{}", plan.describe()));
        return Ok(());
    }
    let hooks = ctx.hooks(&plan);
    hooks.run("pre-connect", &[]).await?;
    let conns = ctx
        .connect(&with_primary(plan.host_names(), &plan.primary_host))
        .await?;
    let what = match plan.canary {
        Some(_) => "canary",
        None => plan.movement.as_str(),
    };
    locked(
        ctx,
        &plan,
        what,
        &conns,
        args.lock_wait,
        args.message.as_deref(),
        || async {
            if plan.build {
                hooks.run("pre-build", &[]).await?;
                ctx.build_and_push(&plan).await?;
            }
            hooks.run("pre-deploy", &[]).await?;
            hooks.run("pre-app-boot", &[]).await?;
            run_plan(ctx, &plan, &conns).await?;
            hooks.run("post-app-boot", &[]).await.map(|_| ())
        },
    )
    .await?;
    hooks
        .run(
            "post-deploy",
            &[("RUNTIME", started.elapsed().as_secs().to_string())],
        )
        .await?;
    let took = started.elapsed().as_secs_f64();
    match &plan.canary {
        Some(c) => ctx.out.info(format!(
            "canary of {} {} for {}% of clients on {} host(s) in {took:.1}s; `dhow rollout \
             status` shows how it does, `dhow rollout set|finish|abort` moves on",
            plan.service,
            plan.version,
            c.percent,
            plan.hosts.len()
        )),
        None => ctx.out.info(format!(
            "{what}ed {} {} to {} host(s) in {took:.1}s",
            plan.service,
            plan.version,
            plan.hosts.len()
        )),
    }
    Ok(())
}

/// `--canary`: the plan's proxied roles start a canary; the others wait for `rollout finish`
/// (every host still gets the image, for then).
fn canary_plan(ctx: &Ctx, plan: &mut Plan, percent: f64) -> anyhow::Result<()> {
    let mut canary = ctx.settings()?.canary.clone();
    canary.percent = percent;
    plan.canary = Some(canary);
    let left: Vec<String> = plan
        .hosts
        .iter()
        .flat_map(|h| h.roles.iter().filter(|r| r.route.is_none()))
        .map(|r| r.role.clone())
        .collect();
    for h in &mut plan.hosts {
        h.roles.retain(|r| r.route.is_some());
    }
    if plan.hosts.iter().all(|h| h.roles.is_empty()) {
        return Err(fail(
            Kind::Usage,
            "--canary needs a role served through the proxy (none of the selected roles is)",
        ));
    }
    let mut left = left;
    left.sort();
    left.dedup();
    if !left.is_empty() {
        ctx.out.info(format!(
            "roles not served through the proxy ({}) stay on their version until `dhow \
             rollout finish`",
            left.join(", ")
        ));
    }
    Ok(())
}

pub async fn rollback(ctx: &Ctx, args: &RollbackArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let targets = ctx.targets()?;
    let conns = ctx
        .connect(&with_primary(targets.host_names(), &targets.primary_host))
        .await?;
    let inventory = super::versions::inventory(&targets, &conns).await?;
    let version = rollback::choose(&inventory, &targets.primary_host, args.version.as_deref())?;
    let plan = ctx.plan(&version, Movement::Rollback, true)?;
    let hooks = ctx.hooks(&plan);
    hooks.run("pre-connect", &[]).await?;
    locked(
        ctx,
        &plan,
        "rollback",
        &conns,
        args.lock_wait,
        None,
        || async {
            hooks.run("pre-deploy", &[]).await?;
            hooks.run("pre-app-boot", &[]).await?;
            run_plan(ctx, &plan, &conns).await?;
            hooks.run("post-app-boot", &[]).await.map(|_| ())
        },
    )
    .await?;
    hooks
        .run(
            "post-deploy",
            &[("RUNTIME", started.elapsed().as_secs().to_string())],
        )
        .await?;
    ctx.out
        .info(format!("rolled back {} to {version}", plan.service));
    Ok(())
}

/// The hosts to connect to: the selected ones and the primary host, which holds the deploy
/// lock even when `-h`/`-r` leave it out.
pub(super) fn with_primary(mut hosts: Vec<String>, primary: &str) -> Vec<String> {
    if !hosts.iter().any(|h| h == primary) {
        hosts.push(primary.to_string());
    }
    hosts
}

/// Run `work` holding the deploy lock; the lock is released whatever happens, including
/// Ctrl-C (the work sees the interruption through the context's cancel signal).
pub(super) async fn locked<F, Fut>(
    ctx: &Ctx,
    plan: &Plan,
    action: &str,
    conns: &Conns,
    wait: Option<Duration>,
    message: Option<&str>,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let primary = conns
        .get(&plan.primary_host)
        .ok_or_else(|| fail(Kind::Internal, "no connection to the primary host"))?;
    let info = LockInfo::now(
        ctx.performer(),
        super::context::now_rfc3339(),
        Some(plan.version.clone()),
        message
            .map(str::to_string)
            .unwrap_or_else(|| format!("{action} {}", plan.version)),
    );
    let deadline = Instant::now() + wait.unwrap_or_default();
    loop {
        match lock::acquire(primary.shell.as_ref(), &plan.lock_key, &info).await {
            Ok(()) => break,
            Err(e) if crate::error::kind_of(&e) == Kind::Locked && Instant::now() < deadline => {
                ctx.out.info(format!("{e}; waiting"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let result = work().await;
    let at = super::context::now_rfc3339();
    let performer = ctx.performer();
    let outcome = match &result {
        Ok(()) => "succeeded".to_string(),
        Err(e) if ctx.cancelled() => format!("interrupted: {}", first_line(e)),
        Err(e) => format!("failed: {}", first_line(e)),
    };
    // The user's note (`-m`) goes with the outcome.
    let outcome = match message {
        Some(m) if !m.trim().is_empty() => format!("{outcome} ({})", m.trim()),
        _ => outcome,
    };
    // The lock's release and every host's audit line at once: one after another they took
    // a round trip per host at the end of every deploy (about 1 s on 25 hosts).
    let release = lock::release(primary.shell.as_ref(), &plan.lock_key);
    let audits = futures::future::join_all(plan.hosts.iter().filter_map(|host| {
        let conn = conns.get(&host.host)?;
        let entries: Vec<audit::Entry> = host
            .roles
            .iter()
            .map(|r| audit::Entry {
                at: &at,
                performer: &performer,
                action,
                version: Some(&plan.version),
                role: Some(&r.role),
                destination: plan.destination.as_deref(),
                detail: &outcome,
            })
            .collect();
        Some(async move { audit::append(conn.shell.as_ref(), &plan.lock_key, &entries).await })
    }));
    let (released, audited) = futures::join!(release, audits);
    for e in audited.into_iter().filter_map(Result::err) {
        ctx.out.warn(format!("{e:#}"));
    }
    match (result, released) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or("").to_string()
}

pub(super) async fn run_plan(ctx: &Ctx, plan: &Plan, conns: &Conns) -> anyhow::Result<()> {
    let progress = Progress::new(ctx.out, &plan.host_names());
    let exec = Execution::new(
        plan,
        conns,
        &progress,
        ctx.proxy_image(),
        ctx.out,
        ctx.cancel_signal(),
    );
    let (rows, result) = exec.run().await;
    drop(progress);
    summary(&ctx.out, &rows);
    report_round_trips(ctx, plan, conns);
    result
}

/// With `-v`: how much SSH work each host took (one connection; channels = round trips).
fn report_round_trips(ctx: &Ctx, plan: &Plan, conns: &Conns) {
    for host in plan.host_names() {
        let Some(n) = conns.get(&host).and_then(|c| c.shell.channels_opened()) else {
            continue;
        };
        ctx.out.debug(format!(
            "{host}: ssh: 1 connection, {n} channels opened (exec + Docker API + proxy control)"
        ));
        ctx.out.event(
            "ssh",
            serde_json::json!({ "host": host, "connections": 1, "channels": n }),
        );
    }
}
