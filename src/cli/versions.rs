//! `dhow versions`: the retained versions per host and role, the running one marked (with
//! `--json` one `versions` object per host); and that inventory, from which
//! `deploy::rollback::choose` picks the version `dhow rollback` goes to.

use super::context::Ctx;
use super::records::HostRoles;
use crate::deploy::targets::Targets;
use crate::docker::containers::{self, AppContainer};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::output::out_line;
use std::collections::HashMap;
use std::io::Write;

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
    for record in HostRoles::group(&inv, false) {
        ctx.out.data("versions", &record, || human(&record));
    }
    Ok(())
}

/// One host's versions, newest first, the running one marked.
fn human(record: &HostRoles) {
    for r in &record.roles {
        out_line!("{} ({}):", record.host, r.role);
        if r.containers.is_empty() {
            out_line!("  (nothing deployed)");
        }
        for c in &r.containers {
            out_line!(
                "  {} {}{}",
                if c.running { "*" } else { " " },
                c.version,
                if c.running { "  (running)" } else { "" }
            );
        }
    }
}
