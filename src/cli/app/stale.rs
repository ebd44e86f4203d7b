//! `app stale_containers [--stop]` (Kamal's): the app's containers that run but are not the
//! current version of their role, e.g. left running by an interrupted deploy. The current
//! one is the container the proxy routes to (a proxied role), else the newest running one;
//! `--stop` stops the others (under the deploy lock, with the role's stop grace). With
//! `--json`, one `stale_containers` object per host.

use super::super::context::Ctx;
use super::super::records::{HostStale, Stale};
use crate::deploy::targets::Targets;
use crate::docker::containers;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use std::collections::HashMap;

pub(super) async fn run(
    ctx: &Ctx,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
    stop: bool,
) -> anyhow::Result<()> {
    let mut found = 0;
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        let mut record = HostStale {
            host: host.host.clone(),
            stale: Vec::new(),
        };
        for role in &host.roles {
            let list = containers::service_containers(
                &conn.docker,
                &plan.service,
                plan.destination.as_deref(),
                Some(&role.role),
            )
            .await?;
            let running: Vec<_> = list.iter().filter(|c| c.running).collect();
            let routed = match role.route {
                Some(_) => crate::deploy::routes::routed_container(conn, &role.prefix).await,
                None => None,
            };
            // Newest first: without a route the newest running container is the current one.
            let current = routed
                .filter(|r| running.iter().any(|c| &c.name == r))
                .or_else(|| running.first().map(|c| c.name.clone()));
            // Replicas of the current one (the same version) are not stale.
            let current_version = running
                .iter()
                .find(|c| Some(&c.name) == current.as_ref())
                .map(|c| c.version.clone());
            let stale = running.iter().filter(|c| {
                Some(&c.name) != current.as_ref() && Some(&c.version) != current_version.as_ref()
            });
            for c in stale {
                if stop {
                    containers::stop(&conn.docker, &c.name, plan.stop_grace).await?;
                }
                record.stale.push(Stale {
                    role: role.role.clone(),
                    container: c.name.clone(),
                    version: c.version.clone(),
                    current: current.clone(),
                    stopped: stop,
                });
            }
        }
        found += record.stale.len();
        ctx.out
            .data("stale_containers", &record, || human(ctx, &record));
    }
    if found == 0 && !ctx.out.json {
        ctx.out.info("no stale containers");
    }
    Ok(())
}

/// One line per stale container of a host.
fn human(ctx: &Ctx, record: &HostStale) {
    for s in &record.stale {
        let line = if s.stopped {
            format!(
                "{}: stopped stale container {} (version {})",
                s.role, s.container, s.version
            )
        } else {
            format!(
                "{}: stale container {} (version {}) runs beside {}; \
                 `dhow app stale_containers --stop` stops it",
                s.role,
                s.container,
                s.version,
                s.current.as_deref().unwrap_or("-")
            )
        };
        ctx.out.host_line(&record.host, "stdout", &line);
    }
}
