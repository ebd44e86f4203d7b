//! `app details|containers|version|images`: what runs (or is kept) on each selected host.
//! Human output is a line per container (per image), prefixed by the host; with `--json` one
//! object per host (`app_details`, `app_containers`, `app_version`, `app_images`; records.rs).

use super::super::context::Ctx;
use super::super::records::{HostImages, HostRoles, Image, RoleContainers};
use super::AppCommand;
use crate::deploy::targets::Targets;
use crate::docker::{containers, images};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use std::collections::HashMap;

/// Whether `cmd` is one of the commands this module answers.
pub(super) fn handles(cmd: &AppCommand) -> bool {
    matches!(
        cmd,
        AppCommand::Details | AppCommand::Containers | AppCommand::Version | AppCommand::Images
    )
}

pub(super) async fn run(
    ctx: &Ctx,
    cmd: &AppCommand,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
) -> anyhow::Result<()> {
    for host in &plan.hosts {
        let conn = conns
            .get(&host.host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {}", host.host)))?;
        if let AppCommand::Images = cmd {
            images_on(ctx, plan, conn).await?;
            continue;
        }
        let mut roles = Vec::new();
        for role in &host.roles {
            let list = containers::service_containers(
                &conn.docker,
                &plan.service,
                plan.destination.as_deref(),
                Some(&role.role),
            )
            .await?;
            let running_only = !matches!(cmd, AppCommand::Containers);
            roles.push(RoleContainers::new(&role.role, &list, running_only));
        }
        let record = HostRoles {
            host: host.host.clone(),
            roles,
        };
        let kind = match cmd {
            AppCommand::Details => "app_details",
            AppCommand::Version => "app_version",
            _ => "app_containers",
        };
        ctx.out.data(kind, &record, || human(ctx, cmd, &record));
    }
    Ok(())
}

/// The lines `app details|containers|version` print for one host.
fn human(ctx: &Ctx, cmd: &AppCommand, record: &HostRoles) {
    let say = |line: &str| ctx.out.host_line(&record.host, "stdout", line);
    for r in &record.roles {
        let role = &r.role;
        match cmd {
            AppCommand::Containers => {
                for c in &r.containers {
                    let state = if c.running { "running" } else { "stopped" };
                    say(&format!("{role}: {} {} {state}", c.name, c.version));
                }
            }
            _ if r.containers.is_empty() => say(&format!("{role}: not running")),
            AppCommand::Version => {
                for c in &r.containers {
                    say(&format!("{role}: {}", c.version));
                }
            }
            _ => {
                for c in &r.containers {
                    say(&format!("{role}: {} ({}) running", c.name, c.image));
                }
            }
        }
    }
}

/// `app images` on one host.
async fn images_on(ctx: &Ctx, plan: &Targets, conn: &HostConn) -> anyhow::Result<()> {
    let host = &conn.name;
    let tags = images::tags(&conn.docker, &plan.image)
        .await
        .map_err(|e| fail(Kind::Remote, format!("{host}: {e:#}")))?;
    let record = HostImages {
        host: host.clone(),
        images: tags
            .into_iter()
            .map(|t| Image {
                tag: t.tag,
                size_bytes: t.size,
            })
            .collect(),
    };
    ctx.out.data("app_images", &record, || {
        for i in &record.images {
            let line = format!("{} ({} MB)", i.tag, i.size_bytes / 1_000_000);
            ctx.out.host_line(host, "stdout", &line);
        }
    });
    Ok(())
}
