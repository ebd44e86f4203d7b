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
    let web_ports: Vec<u16> = settings.proxy.boot.web_ports();
    let chosen = Chosen {
        install,
        harden,
        firewall,
        web_ports,
    };
    let tasks = hosts.iter().map(|h| {
        let (target, chosen) = (settings.target(h), &chosen);
        let (ssh, name, out) = (settings.ssh.clone(), h.clone(), ctx.out);
        async move {
            out.info(format!(
                "{name}: preparing (Docker, the docker group{}{})",
                if chosen.harden { ", hardening" } else { "" },
                if chosen.firewall { ", firewall" } else { "" }
            ));
            let result = prepare_host(&name, &target, &ssh, chosen).await;
            (name, result)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let changed = report(ctx, results, hosts.len())?;
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

/// What `[setup]` asks of every host.
struct Chosen {
    install: crate::setup::Install,
    harden: bool,
    firewall: bool,
    web_ports: Vec<u16>,
}

/// One host over its own SSH session: Docker and the docker group, then hardening and the
/// firewall when asked.
async fn prepare_host(
    name: &str,
    target: &crate::host::ssh::SshTarget,
    ssh: &crate::host::ssh::SshOptions,
    chosen: &Chosen,
) -> anyhow::Result<crate::setup::Prepared> {
    let session = crate::host::ssh::Session::connect(target, ssh).await?;
    if let crate::setup::Install::Script(url) = &chosen.install {
        if let Some((port, local)) = loopback_url(url) {
            // A script served on this machine's loopback: reach it over SSH.
            session.forward_remote_port(port, &local).await?;
        }
    }
    let mut prepared = crate::setup::prepare(name, &session, &chosen.install).await?;
    if chosen.harden {
        let (steps, changed) = crate::setup::harden::apply(name, &session).await?;
        prepared.steps.extend(steps);
        prepared.extra_changed |= changed;
    }
    if chosen.firewall {
        let applied = crate::setup::firewall::apply(name, &session, &chosen.web_ports).await?;
        prepared.steps.extend(applied.steps);
        if applied.changed {
            prepared.extra_changed = true;
            confirm_firewall(name, target, ssh).await?;
        }
    }
    session.close().await;
    Ok(prepared)
}

/// Print each host's result; any failure stops the command (nothing deployed). Returns
/// whether any host changed.
fn report(
    ctx: &Ctx,
    results: Vec<(String, anyhow::Result<crate::setup::Prepared>)>,
    total: usize,
) -> anyhow::Result<bool> {
    let mut failed = Vec::new();
    let mut kind = None;
    let mut changed = false;
    for (host, result) in results {
        match result {
            Ok(p) => {
                changed |= p.changed();
                let record = json!({ "host": host, "os": p.os, "docker": p.docker_version,
                        "installed": p.installed, "started": p.started,
                        "group_added": p.group_added, "changed": p.changed() });
                ctx.out.data("setup", &record, || {
                    ctx.out.host_line(&host, "stdout", &p.describe());
                    for step in &p.steps {
                        ctx.out.host_line(&host, "stdout", step);
                    }
                });
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
                total,
                failed.join("\n  ")
            ),
        ));
    }
    Ok(changed)
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
    let out = crate::host::remote::Exec::exec_step(
        &session,
        "confirm the firewall",
        crate::setup::firewall::CONFIRM,
        None,
    )
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
