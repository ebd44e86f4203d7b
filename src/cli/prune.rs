//! `dhow prune`: remove old stopped containers (keeping `retain_containers` per role) and their
//! images on every selected host, and proxy images of older dhow releases no container uses.

use super::context::Ctx;
use crate::deploy::boot;
use crate::error::{fail, Kind};

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let plan = ctx.targets()?;
    let conns = ctx.connect(&plan.host_names()).await?;
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        for role in &host.roles {
            let removed = boot::prune_role(
                conn,
                &plan.service,
                plan.destination.as_deref(),
                &role.role,
                plan.retain,
            )
            .await?;
            let msg = if removed.is_empty() {
                format!("{}: nothing to prune (keeping {})", role.role, plan.retain)
            } else {
                format!("{}: removed {}", role.role, removed.join(", "))
            };
            ctx.out.host_line(&host.host, "stdout", &msg);
        }
        for tag in crate::proxy::on_host::prune_images(conn).await? {
            ctx.out.host_line(
                &host.host,
                "stdout",
                &format!("removed old proxy image {tag}"),
            );
        }
    }
    Ok(())
}
