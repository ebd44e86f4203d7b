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
    let options = loaded.config.setup.clone().unwrap_or_default();
    let install = match options.docker_install {
        Some(crate::config::schema::DockerInstall::Script) => crate::setup::Install::Script(
            options
                .docker_script_url
                .clone()
                .unwrap_or_else(|| "https://get.docker.com".into()),
        ),
        _ => crate::setup::Install::Apt,
    };
    let (harden, firewall) = (options.harden == Some(true), options.firewall == Some(true));
    let settings = ctx.settings()?;
    let version = ctx.version()?;
    let plan = ctx.plan(
        &version,
        crate::deploy::plan::Movement::Deploy,
        args.skip_push,
    )?;
    if args.dry_run {
        return super::deploy::deploy(ctx, args, false).await;
    }
    let hooks = ctx.hooks(&plan);
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
        let install = install.clone();
        let web_ports: Vec<u16> = settings
            .proxy
            .boot
            .publish
            .iter()
            .map(|(h, _)| *h)
            .collect();
        async move {
            out.info(format!(
                "{name}: preparing (Docker, the docker group{}{})",
                if harden { ", hardening" } else { "" },
                if firewall { ", firewall" } else { "" }
            ));
            let result = async {
                let session = crate::host::ssh::Session::connect(&target, &ssh).await?;
                if let crate::setup::Install::Script(url) = &install {
                    if let Some((port, local)) = loopback_url(url) {
                        // A script served on this machine's loopback: reach it over SSH.
                        session.forward_remote_port(port, &local).await?;
                    }
                }
                let mut prepared = crate::setup::prepare(&name, &session, &install).await?;
                if harden {
                    let (steps, changed) = crate::setup::harden::apply(&name, &session).await?;
                    prepared.steps.extend(steps);
                    prepared.extra_changed |= changed;
                }
                if firewall {
                    let applied =
                        crate::setup::firewall::apply(&name, &session, &web_ports).await?;
                    prepared.steps.extend(applied.steps);
                    if applied.changed {
                        prepared.extra_changed = true;
                        confirm_firewall(&name, &target, &ssh).await?;
                    }
                }
                session.close().await;
                Ok::<_, anyhow::Error>(prepared)
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
                for step in &p.steps {
                    ctx.out.host_line(&host, "stdout", step);
                }
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

/// Prove the new firewall lets SSH in: a new connection confirms it (else the host removes it
/// by itself after the watchdog's delay).
async fn confirm_firewall(
    host: &str,
    target: &crate::host::ssh::SshTarget,
    ssh: &crate::host::ssh::SshOptions,
) -> anyhow::Result<()> {
    let lockout = |e: String| {
        fail(
            Kind::Remote,
            format!(
                "{host}: after the firewall went on, a new SSH connection failed ({e}); the host \
                 removes the firewall again by itself within {}s. Check that sshd's port is \
                 reachable, then run setup again",
                crate::setup::firewall::WATCHDOG_SECS
            ),
        )
    };
    let session = crate::host::ssh::Session::connect(target, ssh)
        .await
        .map_err(|e| lockout(format!("{e:#}")))?;
    let out = session
        .exec(crate::setup::firewall::CONFIRM)
        .await
        .map_err(|e| lockout(format!("{e:#}")))?;
    session.close().await;
    if !out.success() {
        return Err(lockout(out.stderr.trim().to_string()));
    }
    Ok(())
}

/// For an http URL on this machine's loopback: the port and the local address to forward.
fn loopback_url(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    crate::image::pull::loopback_address(authority)
}
