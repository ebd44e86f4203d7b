//! `dhow prune [all|images|containers]` (Kamal's `kamal prune ...`; plain `dhow prune` is
//! `all`) on every selected host: containers removes the app's stopped containers beyond
//! `retain_containers` per role (or `--retain N`); images removes the app's images no
//! container uses (its tags and its dangling builds; `:latest` kept) and proxy images of
//! older dhow releases no container uses; all does both, containers first.

use super::context::Ctx;
use crate::deploy::boot;
use crate::deploy::targets::Targets;
use crate::docker::{containers, images};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PruneCommand {
    /// Old containers, then unused images (what plain `dhow prune` does).
    All,
    /// The app's images no container on the host uses (any tag but `:latest`, and untagged
    /// builds of the app), and old dhow-proxy images no container uses.
    Images,
    /// The app's stopped containers beyond the newest retain_containers per role.
    Containers {
        /// Keep this many stopped containers per role instead of retain_containers.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        retain: Option<u64>,
    },
}

pub async fn run(ctx: &Ctx, cmd: Option<&PruneCommand>) -> anyhow::Result<()> {
    let plan = ctx.targets()?;
    let conns = ctx.connect(&plan.host_names()).await?;
    let (do_containers, do_images, keep) = match cmd {
        None | Some(PruneCommand::All) => (true, true, plan.retain),
        Some(PruneCommand::Images) => (false, true, plan.retain),
        Some(PruneCommand::Containers { retain }) => {
            (true, false, retain.map_or(plan.retain, |n| n as usize))
        }
    };
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        if do_containers {
            prune_containers(ctx, &plan, conn, &host.roles, keep).await?;
        }
        if do_images {
            prune_images(ctx, &plan, conn).await?;
        }
    }
    Ok(())
}

async fn prune_containers(
    ctx: &Ctx,
    plan: &Targets,
    conn: &HostConn,
    roles: &[crate::deploy::targets::RoleTarget],
    keep: usize,
) -> anyhow::Result<()> {
    for role in roles {
        let (_, removed) = boot::prune_stopped(
            conn,
            &plan.service,
            plan.destination.as_deref(),
            &role.role,
            keep,
        )
        .await?;
        let msg = if removed.is_empty() {
            format!("{}: no containers to prune (keeping {keep})", role.role)
        } else {
            format!("{}: removed {}", role.role, removed.join(", "))
        };
        ctx.out.host_line(&conn.name, "stdout", &msg);
        for name in &removed {
            ctx.out.event(
                "pruned",
                serde_json::json!({ "host": conn.name, "role": role.role, "container": name }),
            );
        }
    }
    Ok(())
}

async fn prune_images(ctx: &Ctx, plan: &Targets, conn: &HostConn) -> anyhow::Result<()> {
    let host = &conn.name;
    let remote = |e: anyhow::Error| fail(Kind::Remote, format!("{host}: {e:#}"));
    let used = containers::images_in_use(&conn.docker)
        .await
        .map_err(remote)?;
    let tags = images::tags(&conn.docker, &plan.image)
        .await
        .map_err(remote)?;
    let mut removed = Vec::new();
    for t in tags {
        if t.tag.ends_with(":latest") || used.contains(&t.tag) {
            continue;
        }
        // Refused while a container uses the image under no other tag: kept.
        if images::remove(&conn.docker, &t.tag).await.is_ok() {
            removed.push(t.tag);
        }
    }
    let label = format!("{}={}", crate::docker::labels::LABEL_SERVICE, plan.service);
    let reclaimed = images::prune_dangling(&conn.docker, &label)
        .await
        .map_err(remote)?;
    removed.extend(crate::proxy::on_host::prune_images(conn).await?);
    if removed.is_empty() {
        ctx.out.host_line(host, "stdout", "no unused images");
    }
    for tag in &removed {
        ctx.out
            .host_line(host, "stdout", &format!("removed image {tag}"));
        ctx.out
            .event("pruned", serde_json::json!({ "host": host, "image": tag }));
    }
    if reclaimed > 0 {
        ctx.out.host_line(
            host,
            "stdout",
            &format!(
                "removed untagged images of {} ({} MB)",
                plan.service,
                reclaimed / 1_000_000
            ),
        );
    }
    Ok(())
}
