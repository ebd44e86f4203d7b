//! Booting one role on one host with zero downtime: start the new container next to the old
//! one, let the proxy health-check it and switch traffic (or, for roles that are not proxied,
//! wait until it runs steadily), then stop the old one. If the new one never gets healthy the
//! old one keeps serving, the new one is stopped, and the error carries its last log lines.

use super::container::container_name;
use super::plan::{Plan, RolePlan};
use crate::docker::engine::{self, AppContainer};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::proxy::on_host as proxy;
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

/// Deploy the plan's version of `role` on `host`.
pub async fn boot_new(
    host: &HostConn,
    plan: &Plan,
    role: &RolePlan,
    step: Step<'_>,
) -> anyhow::Result<Booted> {
    let spec = &role.container;
    let existing = engine::service_containers(
        &host.docker,
        &plan.service,
        plan.destination.as_deref(),
        Some(&role.role),
    )
    .await?;
    let mut running: Vec<AppContainer> = existing.iter().filter(|c| c.running).cloned().collect();
    if let Some(same) = existing.iter().find(|c| c.name == spec.name) {
        if same.running {
            // Redeploying the running version: move it aside, it is the one to replace.
            let aside = format!("{}_replaced_{}", spec.name, unix_time());
            step(&format!("renaming running {} to {aside}", spec.name));
            engine::rename(&host.docker, &spec.name, &aside).await?;
            for c in running.iter_mut().filter(|c| c.name == spec.name) {
                c.name = aside.clone();
            }
        } else {
            engine::remove(&host.docker, &spec.name).await?;
        }
    }
    step(&format!("starting {}", spec.name));
    engine::create_and_start(&host.docker, spec).await?;
    switch(host, plan, role, &spec.name, &running, true, step).await
}

/// Switch `role` on `host` back to an existing (stopped) container of `version`.
pub async fn boot_existing(
    host: &HostConn,
    plan: &Plan,
    role: &RolePlan,
    version: &str,
    step: Step<'_>,
) -> anyhow::Result<Booted> {
    let name = container_name(&role.prefix, version);
    let existing = engine::service_containers(
        &host.docker,
        &plan.service,
        plan.destination.as_deref(),
        Some(&role.role),
    )
    .await?;
    let Some(target) = existing.iter().find(|c| c.name == name) else {
        return Err(fail(
            Kind::Usage,
            format!("{}: no container {name} to roll back to", host.name),
        ));
    };
    let running: Vec<AppContainer> = existing
        .iter()
        .filter(|c| c.running && c.name != name)
        .cloned()
        .collect();
    if !target.running {
        step(&format!("starting {name}"));
        engine::start(&host.docker, &name).await?;
    }
    switch(host, plan, role, &name, &running, !target.running, step).await
}

/// Route traffic to `new_name` (proxy health gate, or steady wait), then stop `old`.
async fn switch(
    host: &HostConn,
    plan: &Plan,
    role: &RolePlan,
    new_name: &str,
    old: &[AppContainer],
    stop_new_on_failure: bool,
    step: Step<'_>,
) -> anyhow::Result<Booted> {
    let check = match &role.route {
        Some(route) => {
            step(&format!("health check of {new_name} through the proxy"));
            let mut req = plan.proxy_request(role, route);
            req.target = format!("{new_name}:{}", route.app_port);
            match &route.tls {
                Some(files) => match proxy::upload_tls(host, &role.prefix, files).await {
                    Ok((cert, key)) => {
                        req.tls_cert = Some(cert);
                        req.tls_key = Some(key);
                        proxy::deploy(host, &role.prefix, &req).await.map(|_| ())
                    }
                    Err(e) => Err(e),
                },
                None => proxy::deploy(host, &role.prefix, &req).await.map(|_| ()),
            }
        }
        None => {
            step(&format!("waiting for {new_name} to run steadily"));
            engine::wait_steady(&host.docker, new_name, SETTLE, plan.deploy_timeout).await
        }
    };
    if let Err(e) = check {
        let reason = engine::not_running_reason(&host.docker, new_name)
            .await
            .ok()
            .flatten();
        let logs = engine::logs_tail(&host.docker, new_name, 20).await;
        if stop_new_on_failure {
            let _ = engine::stop(&host.docker, new_name, plan.stop_grace).await;
        }
        let mut msg = format!(
            "{}: role {}: {new_name} did not take over: {e:#}",
            host.name, role.role
        );
        if let Some(r) = reason {
            msg.push_str(&format!("\n  {r}"));
        }
        if !old.is_empty() {
            msg.push_str(&format!(
                "\n  the previous container ({}) keeps serving",
                old.iter()
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
        return Err(fail(Kind::Deploy, msg));
    }
    for c in old {
        step(&format!("stopping {}", c.name));
        engine::stop(&host.docker, &c.name, plan.stop_grace).await?;
    }
    Ok(Booted {
        previous_version: old.first().map(|c| c.version.clone()),
    })
}

/// Remove all but the newest `retain` stopped containers of the role, and their images when
/// nothing else uses them. Returns the names removed.
pub async fn prune_role(host: &HostConn, plan: &Plan, role: &str) -> anyhow::Result<Vec<String>> {
    let all = engine::service_containers(
        &host.docker,
        &plan.service,
        plan.destination.as_deref(),
        Some(role),
    )
    .await?;
    let stopped: Vec<&AppContainer> = all.iter().filter(|c| !c.running).collect();
    let mut removed = Vec::new();
    for c in stopped.iter().skip(plan.retain) {
        engine::remove(&host.docker, &c.name).await?;
        removed.push(c.name.clone());
        let still_used = all
            .iter()
            .any(|o| o.image == c.image && !removed.contains(&o.name));
        if !still_used && !c.image.is_empty() {
            // Best effort: another service may use the image; Docker refuses then, which is fine.
            let _ = host
                .docker
                .remove_image(
                    &c.image,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        }
    }
    Ok(removed)
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
