//! Booting one role on one host with zero downtime, one function per role step of
//! `steps.rs`: start the new container next to the old one (or the kept one, for a rollback),
//! let the proxy health-check it and switch traffic (or, for roles that are not proxied, wait
//! until it runs steadily), then stop the old one. If the new one never gets healthy the old
//! one keeps serving, the new one is stopped, and the error carries its last log lines.

use super::container::container_name;
use super::host_ops::HostOps;
use super::plan::{Plan, RolePlan};
use crate::docker::engine::AppContainer;
use crate::error::{fail, Kind};
use std::time::Duration;

/// How long a container that is not proxied must keep running to count as started.
const SETTLE: Duration = Duration::from_secs(3);

/// What a role's boot changed.
#[derive(Debug, Clone, Default)]
pub struct Booted {
    /// The version that served before, if any.
    pub previous_version: Option<String>,
}

/// Progress callback: a short description of the current step.
pub type Step<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A role's containers while it boots: those taking over (one per replica) and the ones
/// serving before.
#[derive(Debug, Clone)]
pub struct Takeover {
    /// The containers taking over, the first replica first.
    pub new_names: Vec<String>,
    pub old: Vec<AppContainer>,
    /// Those of `new_names` to stop when they do not take over (not those running already).
    stop_on_failure: Vec<String>,
    /// New containers of a plan with a bake window: the proxy judges them after the switch,
    /// and the old ones stop only once it passed (`bake.rs`).
    pub bakes: bool,
}

impl Takeover {
    /// The first of the new containers (the one messages name).
    fn first(&self) -> &str {
        self.new_names.first().map_or("", String::as_str)
    }
}

/// [`super::steps::RoleStep::StartNew`]: write the env file and start the plan's containers,
/// one per replica (a running container of such a name is one to replace: it moves aside
/// first).
pub async fn start_new(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    step: Step<'_>,
) -> anyhow::Result<Takeover> {
    let specs = role.replica_specs();
    host.write_env(&plan.lock_key, &role.container).await?;
    let existing = host
        .containers(&plan.service, plan.destination.as_deref(), &role.role)
        .await?;
    let mut running: Vec<AppContainer> = existing.iter().filter(|c| c.running).cloned().collect();
    for spec in &specs {
        if let Some(same) = existing.iter().find(|c| c.name == spec.name) {
            if same.running {
                // Redeploying the running version: move it aside, it is the one to replace.
                let aside = format!("{}_replaced_{}", spec.name, unix_time());
                step(&format!("renaming running {} to {aside}", spec.name));
                host.rename(&spec.name, &aside).await?;
                for c in running.iter_mut().filter(|c| c.name == spec.name) {
                    c.name = aside.clone();
                }
            } else {
                host.remove(&spec.name).await?;
            }
        }
    }
    let mut started: Vec<String> = Vec::new();
    for spec in &specs {
        step(&format!("starting {}", spec.name));
        if let Err(e) = host.create_and_start(spec).await {
            // Those already started do not stay behind.
            for name in &started {
                let _ = host.stop(name, plan.stop_grace).await;
            }
            return Err(e);
        }
        started.push(spec.name.clone());
    }
    Ok(Takeover {
        new_names: started.clone(),
        old: running,
        stop_on_failure: started,
        bakes: plan.bake.is_some() && role.route.is_some(),
    })
}

/// [`super::steps::RoleStep::StartKept`]: start the containers the host kept for `version`
/// (the plan's for a rollback; those that served before when undoing): every replica of it.
pub async fn start_kept(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    version: &str,
    step: Step<'_>,
) -> anyhow::Result<Takeover> {
    let name = container_name(&role.prefix, version);
    let existing = host
        .containers(&plan.service, plan.destination.as_deref(), &role.role)
        .await?;
    // By the version label (every replica of it, the first by name first), else by name: a
    // container an older dhow named differently (deploy/container.rs) is still this
    // version's.
    let mut targets: Vec<&AppContainer> = existing
        .iter()
        .filter(|c| c.version == version || c.name == name)
        .collect();
    targets.sort_by_key(|c| (c.name != name, replica_index(&c.name), c.name.clone()));
    if targets.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!("{}: no container {name} to roll back to", host.name()),
        ));
    }
    let running: Vec<AppContainer> = existing
        .iter()
        .filter(|c| c.running && !targets.iter().any(|t| t.name == c.name))
        .cloned()
        .collect();
    let mut started = Vec::new();
    for t in targets.iter().filter(|t| !t.running) {
        step(&format!("starting {}", t.name));
        host.start(&t.name).await?;
        started.push(t.name.clone());
    }
    Ok(Takeover {
        new_names: targets.iter().map(|t| t.name.clone()).collect(),
        old: running,
        stop_on_failure: started,
        bakes: false,
    })
}

/// The replica number a name ends in (`-r3`), 1 without one.
fn replica_index(name: &str) -> usize {
    name.rsplit_once("-r")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

/// [`super::steps::RoleStep::ProxySwitch`]: the certificate files first when the route has
/// them, then the proxy's health-gated switch to the new container.
pub async fn proxy_switch(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    t: &Takeover,
    step: Step<'_>,
) -> anyhow::Result<()> {
    let what = match t.new_names.len() {
        1 => t.first().to_string(),
        n => format!("{} and {} more", t.first(), n - 1),
    };
    step(&format!("health check of {what} through the proxy"));
    let switched = async {
        let tls = match role.route.as_ref().and_then(|r| r.tls.as_ref()) {
            Some(files) => Some(host.upload_tls(&role.prefix, files).await?),
            None => None,
        };
        let mut req = plan.proxy_request(role, &t.new_names, tls).ok_or_else(|| {
            fail(
                Kind::Internal,
                format!("role {} has no route through the proxy", role.role),
            )
        })?;
        if t.bakes {
            req.bake = plan.bake.as_ref().map(|b| b.spec());
        }
        host.proxy_deploy(&role.prefix, &req).await
    }
    .await;
    match switched {
        Ok(()) => Ok(()),
        Err(e) => Err(did_not_take_over(host, plan, role, t, e).await),
    }
}

/// [`super::steps::RoleStep::ProxyCanary`]: the proxy health-checks the new containers and
/// sends them the canary's share of clients; the serving ones keep the rest (and run on).
pub async fn proxy_canary(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    t: &Takeover,
    step: Step<'_>,
) -> anyhow::Result<()> {
    let percent = plan.canary.as_ref().map_or(0.0, |c| c.percent);
    step(&format!(
        "health check of {}, then {percent}% of clients to it",
        t.first()
    ));
    // A canary of this version run again: the one it replaces moved aside (it stops below).
    let (again, serving): (Vec<&AppContainer>, Vec<&AppContainer>) =
        t.old.iter().partition(|c| c.version == plan.version);
    let started = async {
        let Some(stable) = serving.first() else {
            return Err(fail(
                Kind::Usage,
                format!(
                    "no version of role {} runs on {}: a canary goes beside one (deploy \
                     without --canary first)",
                    role.role,
                    host.name()
                ),
            ));
        };
        let req = plan
            .canary_request(role, &t.new_names, &stable.version)
            .ok_or_else(|| fail(Kind::Internal, format!("role {} is not proxied", role.role)))?;
        host.proxy_canary(&role.prefix, &req).await
    }
    .await;
    if let Err(e) = started {
        return Err(did_not_take_over(host, plan, role, t, e).await);
    }
    for c in again {
        step(&format!("stopping {} (the canary it replaced)", c.name));
        host.stop(&c.name, plan.stop_grace).await?;
    }
    Ok(())
}

/// What Ctrl-C during `deploy --canary` leaves: the canaries started (`on`: host and role).
pub fn interrupted_canary(on: &[String]) -> String {
    match on.is_empty() {
        true => "interrupted before any canary started; nothing changed".into(),
        false => format!(
            "interrupted; the canary runs on {}: `dhow rollout abort` takes it back",
            on.join(", ")
        ),
    }
}

/// [`super::steps::RoleStep::WaitSteady`]: a role that is not proxied counts as started once
/// its container runs steadily (or is healthy).
pub async fn wait_steady(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    t: &Takeover,
    step: Step<'_>,
) -> anyhow::Result<()> {
    for name in &t.new_names {
        step(&format!("waiting for {name} to run steadily"));
        if let Err(e) = host.wait_steady(name, SETTLE, plan.deploy_timeout).await {
            return Err(did_not_take_over(host, plan, role, t, e).await);
        }
    }
    Ok(())
}

/// [`super::steps::RoleStep::StopPrevious`]: stop what served before.
pub async fn stop_previous(
    host: &dyn HostOps,
    plan: &Plan,
    t: &Takeover,
    step: Step<'_>,
) -> anyhow::Result<Booted> {
    for c in &t.old {
        step(&format!("stopping {}", c.name));
        host.stop(&c.name, plan.stop_grace).await?;
    }
    Ok(Booted {
        previous_version: t.old.first().map(|c| c.version.clone()),
    })
}

/// [`super::steps::RoleStep::StopPrevious`] of a role whose new containers bake: nothing stops
/// yet (the bake phase stops the old ones once every host passed).
pub fn baking(t: &Takeover) -> Booted {
    Booted {
        previous_version: t.old.first().map(|c| c.version.clone()),
    }
}

/// Switch `role` back to its kept container of `version` (undoing after Ctrl-C): the same
/// steps as a rollback's.
pub async fn boot_kept(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    version: &str,
    step: Step<'_>,
) -> anyhow::Result<Booted> {
    let t = start_kept(host, plan, role, version, step).await?;
    match role.route {
        Some(_) => proxy_switch(host, plan, role, &t, step).await?,
        None => wait_steady(host, plan, role, &t, step).await?,
    }
    stop_previous(host, plan, &t, step).await
}

/// The new container did not take over: the old keeps serving; stop the new one (unless it
/// ran before) and say why, with its last log lines.
async fn did_not_take_over(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    t: &Takeover,
    e: anyhow::Error,
) -> anyhow::Error {
    let new_name = t.first();
    let reason = host.not_running_reason(new_name).await.ok().flatten();
    let logs = host.logs_tail(new_name, 20).await;
    for name in &t.stop_on_failure {
        let _ = host.stop(name, plan.stop_grace).await;
    }
    let mut msg = format!(
        "{}: role {}: {new_name} did not take over: {e:#}",
        host.name(),
        role.role
    );
    if let Some(r) = reason {
        msg.push_str(&format!("\n  {r}"));
    }
    if !t.old.is_empty() {
        msg.push_str(&format!(
            "\n  the previous container ({}) keeps serving",
            t.old
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if logs.trim().is_empty() {
        msg.push_str("\n  (the container printed nothing)");
    } else {
        msg.push_str(&format!(
            "\n  last log lines of {new_name}:\n{}",
            indent(logs.trim_end())
        ));
    }
    fail(Kind::Deploy, msg)
}

/// [`super::steps::RoleStep::Prune`]: remove all but the newest `keep` stopped containers of
/// the role, and their images when nothing else uses them. Returns the names removed.
pub async fn prune_role(
    host: &dyn HostOps,
    service: &str,
    destination: Option<&str>,
    role: &str,
    keep: usize,
) -> anyhow::Result<Vec<String>> {
    let (all, removed) = prune_stopped(host, service, destination, role, keep).await?;
    for c in all.iter().filter(|c| removed.contains(&c.name)) {
        let still_used = all
            .iter()
            .any(|o| o.image == c.image && !removed.contains(&o.name));
        if !still_used && !c.image.is_empty() {
            // Best effort: another service may use the image; Docker refuses then, which is fine.
            host.remove_image(&c.image).await;
        }
    }
    Ok(removed)
}

/// Remove all but the newest `keep` stopped containers of `role` (`dhow prune containers`:
/// their images stay, for `dhow prune images`). Returns the role's containers as they were
/// and the names removed.
pub async fn prune_stopped(
    host: &dyn HostOps,
    service: &str,
    destination: Option<&str>,
    role: &str,
    keep: usize,
) -> anyhow::Result<(Vec<AppContainer>, Vec<String>)> {
    let all = host.containers(service, destination, role).await?;
    // `keep` counts versions: all replicas of a kept version stay (newest first, as listed).
    let mut kept_versions: Vec<&str> = Vec::new();
    let mut removed = Vec::new();
    for c in all.iter().filter(|c| !c.running) {
        if kept_versions.contains(&c.version.as_str()) {
            continue;
        }
        if kept_versions.len() < keep {
            kept_versions.push(&c.version);
            continue;
        }
        host.remove(&c.name).await?;
        removed.push(c.name.clone());
    }
    Ok((all, removed))
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
