//! `dhow versions`: the retained versions per host and role, the running one marked; and the
//! choice of the version `dhow rollback` goes back to (it must exist on every host).

use super::context::Ctx;
use crate::deploy::plan::Plan;
use crate::docker::containers::{self, AppContainer};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use std::collections::{BTreeSet, HashMap};

/// Containers per (host, role) for the plan's hosts and roles.
pub async fn inventory(
    plan: &Plan,
    conns: &HashMap<String, HostConn>,
) -> anyhow::Result<Vec<(String, String, Vec<AppContainer>)>> {
    let mut rows = Vec::new();
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
            rows.push((host.host.clone(), role.role.clone(), list));
        }
    }
    Ok(rows)
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let plan = ctx.plan("current")?;
    let conns = ctx.connect(&plan.host_names()).await?;
    let inv = inventory(&plan, &conns).await?;
    if ctx.out.json {
        for (host, role, list) in &inv {
            for c in list {
                ctx.out.event(
                    "version",
                    serde_json::json!({"host": host, "role": role, "version": c.version, "running": c.running, "container": c.name}),
                );
            }
        }
        return Ok(());
    }
    for (host, role, list) in &inv {
        println!("{host} ({role}):");
        if list.is_empty() {
            println!("  (nothing deployed)");
        }
        for c in list {
            println!(
                "  {} {}{}",
                if c.running { "*" } else { " " },
                c.version,
                if c.running { "  (running)" } else { "" }
            );
        }
    }
    Ok(())
}

/// The version a rollback switches to: `wanted` if every host has it for every role, else
/// the newest version before the running one that every host has.
pub async fn rollback_target(
    _ctx: &Ctx,
    plan: &Plan,
    conns: &HashMap<String, HostConn>,
    wanted: Option<&str>,
) -> anyhow::Result<String> {
    let inv = inventory(plan, conns).await?;
    let mut common: Option<BTreeSet<String>> = None;
    let mut running = BTreeSet::new();
    for (_, _, list) in &inv {
        let versions: BTreeSet<String> = list.iter().map(|c| c.version.clone()).collect();
        running.extend(list.iter().filter(|c| c.running).map(|c| c.version.clone()));
        common = Some(match common {
            None => versions,
            Some(prev) => prev.intersection(&versions).cloned().collect(),
        });
    }
    let common = common.unwrap_or_default();
    let available = || {
        if common.is_empty() {
            "none".to_string()
        } else {
            common.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    if let Some(v) = wanted {
        if common.contains(v) {
            return Ok(v.to_string());
        }
        return Err(fail(
            Kind::Usage,
            format!(
                "version {v} is not retained on every selected host; versions available everywhere: {}",
                available()
            ),
        ));
    }
    // Newest first on the primary host's first role.
    let order: Vec<&AppContainer> = inv
        .iter()
        .find(|(h, _, _)| *h == plan.primary_host)
        .or(inv.first())
        .map(|(_, _, l)| l.iter().collect())
        .unwrap_or_default();
    order
        .into_iter()
        .find(|c| !c.running && !running.contains(&c.version) && common.contains(&c.version))
        .map(|c| c.version.clone())
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                format!(
                    "no previous version to roll back to; versions available everywhere: {}",
                    available()
                ),
            )
        })
}
