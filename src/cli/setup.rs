//! `dhow setup`: make fresh servers ready (Docker from the distribution, started, the SSH user
//! in the docker group), run the `docker-setup` hook, then deploy as `dhow deploy` does (which
//! boots the network and the proxy), after booting the accessories. Hosts are prepared in parallel over SSH alone (they may
//! have no Docker yet); if any host cannot be prepared, nothing is deployed.

use super::context::Ctx;
use super::deploy::DeployArgs;
use crate::error::{fail, kind_of, Kind};
use serde_json::json;

pub async fn run(ctx: &Ctx, args: &DeployArgs) -> anyhow::Result<()> {
    let loaded = super::hosts::load_config(&ctx.global)?;
    if let Some(s) = &loaded.config.setup {
        let mut unbuilt = Vec::new();
        if s.firewall == Some(true) {
            unbuilt.push("setup.firewall");
        }
        if s.harden == Some(true) {
            unbuilt.push("setup.harden");
        }
        if s.docker_install == Some(crate::config::schema::DockerInstall::Script) {
            unbuilt.push("setup.docker_install = \"script\"");
        }
        if !unbuilt.is_empty() {
            return Err(fail(
                Kind::Config,
                format!(
                    "{} {} not built yet; remove {} to run setup (Docker is installed from the \
                     distribution's docker.io)",
                    unbuilt.join(", "),
                    if unbuilt.len() == 1 { "is" } else { "are" },
                    if unbuilt.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
    }
    let settings = ctx.settings()?;
    let version = ctx.version()?;
    let plan = ctx.plan(&version)?;
    if args.dry_run {
        return super::deploy::deploy(ctx, args, false).await;
    }
    let hooks = ctx.hooks(&version);
    hooks.run("pre-connect", &[]).await?;
    let mut hosts = plan.host_names();
    for h in settings.accessories.iter().flat_map(|a| a.hosts.iter()) {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    let tasks = hosts.iter().map(|h| {
        let target = settings.target(h);
        let (ssh, name, out) = (settings.ssh.clone(), h.clone(), ctx.out);
        async move {
            out.info(format!("{name}: preparing (Docker, the docker group)"));
            let result = async {
                let session = crate::ssh::Session::connect(&target, &ssh).await?;
                let prepared = crate::setup::prepare(&name, &session).await;
                session.close().await;
                prepared
            }
            .await;
            (name, result)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut failed = Vec::new();
    let mut kind = None;
    let mut changed = false;
    for (host, result) in results {
        match result {
            Ok(p) => {
                changed |= p.changed();
                ctx.out.host_line(&host, "stdout", &p.describe());
                ctx.out.event(
                    "setup",
                    json!({ "host": host, "os": p.os, "docker": p.docker_version,
                            "installed": p.installed, "started": p.started,
                            "group_added": p.group_added, "changed": p.changed() }),
                );
            }
            Err(e) => {
                kind.get_or_insert(kind_of(&e));
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !failed.is_empty() {
        return Err(fail(
            kind.unwrap_or(Kind::Remote),
            format!(
                "setup failed on {} of {} hosts; nothing was deployed:\n  {}",
                failed.len(),
                hosts.len(),
                failed.join("\n  ")
            ),
        ));
    }
    if !changed {
        ctx.out
            .info("setup: every host was ready already; nothing changed on them");
    }
    hooks.run("docker-setup", &[]).await?;
    if settings.accessories.iter().any(|a| !a.hosts.is_empty()) {
        super::accessory::run(
            ctx,
            &super::accessory::AccessoryCommand::Boot { name: "all".into() },
        )
        .await?;
    }
    super::deploy::deploy(ctx, args, false).await
}
