//! `dhow versions`: the retained versions per host and role, the running one marked; and that
//! inventory, from which `deploy::rollback::choose` picks the version `dhow rollback` goes to.

use super::context::Ctx;
use crate::deploy::targets::Targets;
use crate::docker::containers::{self, AppContainer};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use std::collections::HashMap;

/// Containers per (host, role) for the plan's hosts and roles.
pub async fn inventory(
    plan: &Targets,
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
    let plan = ctx.targets()?;
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
