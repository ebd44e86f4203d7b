//! `dhow prune [all|images|containers]` (Kamal's `kamal prune ...`; plain `dhow prune` is
//! `all`) on every selected host: containers removes the app's stopped containers beyond
//! `retain_containers` per role (or `--retain N`); images removes the app's images no
//! container uses (its tags and its dangling builds; `:latest` kept) and proxy images of
//! older dhow releases no container uses; all does both, containers first. With `--json`,
//! one `pruned` object per host.

use super::context::Ctx;
use super::records::{Pruned, PrunedRole};
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
        let mut record = Pruned {
            host: host.host.clone(),
            ..Pruned::default()
        };
        if do_containers {
            record.containers = Some(prune_containers(&plan, conn, &host.roles, keep).await?);
        }
        // The containers removed are told even when the images then fail.
        let images = match do_images {
            true => prune_images(&plan, conn).await.map(Some),
            false => Ok(None),
        };
        if let Ok(Some((removed, reclaimed))) = &images {
            record.images = Some(removed.clone());
            record.untagged_bytes = Some(*reclaimed);
        }
        ctx.out
            .data("pruned", &record, || human(ctx, &plan, &record));
        images?;
    }
    Ok(())
}

/// What prune did on one host, as lines.
fn human(ctx: &Ctx, plan: &Targets, record: &Pruned) {
    let say = |line: &str| ctx.out.host_line(&record.host, "stdout", line);
    for r in record.containers.iter().flatten() {
        say(&if r.removed.is_empty() {
            format!("{}: no containers to prune (keeping {})", r.role, r.retain)
        } else {
            format!("{}: removed {}", r.role, r.removed.join(", "))
        });
    }
    if let Some(removed) = &record.images {
        if removed.is_empty() {
            say("no unused images");
        }
        for tag in removed {
            say(&format!("removed image {tag}"));
        }
    }
    if let Some(reclaimed) = record.untagged_bytes.filter(|n| *n > 0) {
        say(&format!(
            "removed untagged images of {} ({} MB)",
            plan.service,
            reclaimed / 1_000_000
        ));
    }
}

async fn prune_containers(
    plan: &Targets,
    conn: &HostConn,
    roles: &[crate::deploy::targets::RoleTarget],
    keep: usize,
) -> anyhow::Result<Vec<PrunedRole>> {
    let mut out = Vec::new();
    for role in roles {
        let (_, removed) = boot::prune_stopped(
            conn,
            &plan.service,
            plan.destination.as_deref(),
            &role.role,
            keep,
        )
        .await?;
        out.push(PrunedRole {
            role: role.role.clone(),
            removed,
            retain: keep,
        });
    }
    Ok(out)
}

/// The image tags removed on a host, and the bytes its untagged images of the app freed.
async fn prune_images(plan: &Targets, conn: &HostConn) -> anyhow::Result<(Vec<String>, i64)> {
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
    Ok((removed, reclaimed))
}
