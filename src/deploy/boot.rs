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

/// A role's containers while it boots: the one taking over and the ones serving before.
#[derive(Debug, Clone)]
pub struct Takeover {
    pub new_name: String,
    pub old: Vec<AppContainer>,
    /// Stop the new one when it does not take over (not when it was running already).
    stop_new_on_failure: bool,
}

/// [`super::steps::RoleStep::StartNew`]: write the env file and start the plan's container
/// (a running container of that name is the one to replace: it moves aside first).
pub async fn start_new(
    host: &dyn HostOps,
    plan: &Plan,
    role: &RolePlan,
    step: Step<'_>,
) -> anyhow::Result<Takeover> {
    let spec = &role.container;
    host.write_env(&plan.lock_key, spec).await?;
    let existing = host
        .containers(&plan.service, plan.destination.as_deref(), &role.role)
        .await?;
    let mut running: Vec<AppContainer> = existing.iter().filter(|c| c.running).cloned().collect();
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
    step(&format!("starting {}", spec.name));
    host.create_and_start(spec).await?;
    Ok(Takeover {
        new_name: spec.name.clone(),
        old: running,
        stop_new_on_failure: true,
    })
}

/// [`super::steps::RoleStep::StartKept`]: start the container the host kept for `version`
/// (the plan's for a rollback; the one that served before when undoing).
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
    // By name, else by the version label: a container an older dhow named differently
    // (deploy/container.rs) is still this version's.
    let Some(target) = existing
        .iter()
        .find(|c| c.name == name)
        .or_else(|| existing.iter().find(|c| c.version == version))
    else {
        return Err(fail(
            Kind::Usage,
            format!("{}: no container {name} to roll back to", host.name()),
        ));
    };
    let running: Vec<AppContainer> = existing
        .iter()
        .filter(|c| c.running && c.name != target.name)
        .cloned()
        .collect();
    let name = target.name.clone();
    if !target.running {
        step(&format!("starting {name}"));
        host.start(&name).await?;
    }
    Ok(Takeover {
        new_name: name,
        old: running,
        stop_new_on_failure: !target.running,
    })
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
    step(&format!("health check of {} through the proxy", t.new_name));
    let switched = async {
        let tls = match role.route.as_ref().and_then(|r| r.tls.as_ref()) {
            Some(files) => Some(host.upload_tls(&role.prefix, files).await?),
            None => None,
        };
        let req = plan.proxy_request(role, &t.new_name, tls).ok_or_else(|| {
            fail(
                Kind::Internal,
                format!("role {} has no route through the proxy", role.role),
            )
        })?;
        host.proxy_deploy(&role.prefix, &req).await
    }
    .await;
    match switched {
        Ok(()) => Ok(()),
        Err(e) => Err(did_not_take_over(host, plan, role, t, e).await),
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
    step(&format!("waiting for {} to run steadily", t.new_name));
    match host
        .wait_steady(&t.new_name, SETTLE, plan.deploy_timeout)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(did_not_take_over(host, plan, role, t, e).await),
    }
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
    let new_name = &t.new_name;
    let reason = host.not_running_reason(new_name).await.ok().flatten();
    let logs = host.logs_tail(new_name, 20).await;
    if t.stop_new_on_failure {
        let _ = host.stop(new_name, plan.stop_grace).await;
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
    let mut removed = Vec::new();
    for c in all.iter().filter(|c| !c.running).skip(keep) {
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
