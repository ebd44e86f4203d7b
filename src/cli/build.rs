//! `dhow build push|pull|deliver|details` (Kamal's `kamal build ...`): the image half of a
//! deploy on its own. Each reuses what `dhow deploy` runs: the context's build and push
//! (`Ctx::build_and_push`) and the plan's delivery step on every host
//! (`Execution::deliver`), so a `build deliver` then `deploy --skip-push` does what one
//! deploy does. Nothing here starts or stops a container.

use super::context::Ctx;
use crate::config::types::ContextSource;
use crate::deploy::execute::Execution;
use crate::deploy::plan::{Delivery, Movement};
use crate::error::{fail, Kind};
use crate::progress::Progress;
use serde_json::json;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BuildCommand {
    /// Build the app image (the version of --version, else HEAD's SHA) and push it to
    /// [registry]; no host is touched. Without a registry there is nothing to push to:
    /// `dhow build deliver` sends the image to the hosts over SSH.
    Push,
    /// Every selected host pulls the version's image from [registry] (with the deploy's
    /// credentials, passed per pull); nothing is built or started.
    Pull,
    /// Build, then get the image onto every selected host the way a deploy would: pushed
    /// and pulled through [registry], or without one sent over each host's SSH connection
    /// (only the layers the host lacks, resumed where a cut delivery stopped; the whole
    /// image with `delivery = "stream"`). No
    /// container is started; `dhow deploy --skip-push` deploys it afterwards.
    Deliver,
    /// The builder settings ([builder]) and the local Docker engine that builds: its
    /// version, the builder dhow uses with it (the engine's classic build API, or BuildKit
    /// through `docker buildx` when builder.secrets are set) and the target platform.
    Details,
}

pub async fn run(ctx: &Ctx, cmd: &BuildCommand) -> anyhow::Result<()> {
    match cmd {
        BuildCommand::Push => push(ctx).await,
        BuildCommand::Pull => pull(ctx).await,
        BuildCommand::Deliver => deliver(ctx).await,
        BuildCommand::Details => details(ctx).await,
    }
}

fn no_registry(what: &str) -> anyhow::Error {
    fail(
        Kind::Usage,
        format!(
            "{what} needs a [registry] in the config; without one, `dhow build deliver` \
             sends the image to the hosts over SSH"
        ),
    )
}

async fn push(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.settings()?.registry.is_none() {
        return Err(no_registry("dhow build push"));
    }
    let version = ctx.version()?;
    let plan = ctx.plan(&version, Movement::Deploy, false)?;
    let hooks = ctx.hooks(&plan);
    hooks.run("pre-build", &[]).await?;
    ctx.build_and_push(&plan).await?;
    ctx.out.event(
        "pushed",
        json!({ "image": plan.image_ref, "version": version }),
    );
    ctx.out.info(format!("pushed {}", plan.image_ref));
    Ok(())
}

async fn pull(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.settings()?.registry.is_none() {
        return Err(no_registry("dhow build pull"));
    }
    let version = ctx.version()?;
    // skip_push: nothing is built; the delivery is the registry pull.
    let plan = ctx.plan(&version, Movement::Redeploy, true)?;
    let conns = ctx.connect(&plan.host_names()).await?;
    deliver_to(ctx, &plan, &conns).await
}

async fn deliver(ctx: &Ctx) -> anyhow::Result<()> {
    let version = ctx.version()?;
    let plan = ctx.plan(&version, Movement::Deploy, false)?;
    let hooks = ctx.hooks(&plan);
    hooks.run("pre-connect", &[]).await?;
    // Every host must answer before the (long) build starts.
    let conns = ctx.connect(&plan.host_names()).await?;
    hooks.run("pre-build", &[]).await?;
    ctx.build_and_push(&plan).await?;
    deliver_to(ctx, &plan, &conns).await
}

async fn deliver_to(
    ctx: &Ctx,
    plan: &crate::deploy::plan::Plan,
    conns: &super::context::Conns,
) -> anyhow::Result<()> {
    let how = match &plan.delivery {
        Delivery::Registry(r) => format!("pulled from {}", r.server),
        Delivery::Layers => "sent over SSH (missing layers)".to_string(),
        Delivery::Ssh => "sent over SSH".to_string(),
        Delivery::OnHosts | Delivery::Nothing => "checked".to_string(),
    };
    deliver_image(ctx, plan, conns).await?;
    for host in plan.host_names() {
        ctx.out.event(
            "delivered",
            json!({ "host": host, "image": plan.image_ref, "how": how }),
        );
    }
    ctx.out.info(format!(
        "{} on {} host(s) ({how})",
        plan.image_ref,
        plan.hosts.len()
    ));
    Ok(())
}

async fn details(ctx: &Ctx) -> anyhow::Result<()> {
    let s = ctx.settings()?;
    let b = &s.builder;
    let local = crate::docker::connect_local().await?;
    let (engine, api) = crate::docker::system::version(&local).await?;
    let engine_arch = crate::docker::arch::engine(&local).await?;
    let platform = crate::image::build::platform(b.arch.as_deref().unwrap_or(&engine_arch));
    let (builder, cli) = if b.secrets.is_empty() {
        ("classic (the engine's build API)".to_string(), None)
    } else {
        match crate::image::buildkit::find_cli() {
            Some(c) if c.buildx => (
                "BuildKit (docker buildx build --load), for builder.secrets".to_string(),
                Some(c.path.display().to_string()),
            ),
            Some(c) => (
                "BuildKit (DOCKER_BUILDKIT=1 docker build), for builder.secrets".to_string(),
                Some(c.path.display().to_string()),
            ),
            None => (
                "BuildKit needed for builder.secrets, and no docker CLI with buildx is on PATH"
                    .to_string(),
                None,
            ),
        }
    };
    let source = match b.context_source {
        ContextSource::Commit => "commit",
        ContextSource::WorkingTree => "working-tree",
    };
    let dockerfile = if b.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        b.dockerfile.as_str()
    };
    let arg_names: Vec<&str> = b.args.keys().map(String::as_str).collect();
    let record = json!({
                "image": s.image,
                "context": b.context.display().to_string(),
                "context_source": source,
                "dockerfile": dockerfile,
                "target": b.target,
                "args": arg_names,
                "secrets": b.secrets,
                "arch": b.arch,
                "platform": platform,
                "builder": builder,
                "docker_cli": cli,
                "engine": { "version": engine, "api": api, "arch": engine_arch },
                "registry": s.registry.as_ref().map(|r| r.server.clone()),
    });
    let mut lines = vec![
        format!("image:          {}", s.image),
        format!(
            "context:        {} (from the {source})",
            b.context.display()
        ),
        format!("dockerfile:     {dockerfile}"),
    ];
    if let Some(t) = &b.target {
        lines.push(format!("target:         {t}"));
    }
    if !arg_names.is_empty() {
        lines.push(format!("args:           {}", arg_names.join(", ")));
    }
    if !b.secrets.is_empty() {
        lines.push(format!("secrets:        {}", b.secrets.join(", ")));
    }
    lines.push(format!("platform:       {platform}"));
    lines.push(format!("builder:        {builder}"));
    if let Some(c) = cli {
        lines.push(format!("docker CLI:     {c}"));
    }
    lines.push(format!(
        "local engine:   Docker {engine} (API {api}, {engine_arch})"
    ));
    lines.push(match &s.registry {
        Some(r) => format!("registry:       {} (push, then hosts pull)", r.server),
        None => "registry:       none (the image goes to each host over SSH)".to_string(),
    });
    ctx.out.data("builder", &record, || {
        for l in lines {
            ctx.out.info(l);
        }
    });
    Ok(())
}

/// Bring the plan's image to each of its hosts as a deploy's delivery step does, with its
/// progress lines; nothing is started (`build deliver|pull`, and `app exec --version` for a
/// version a host lacks).
pub(super) async fn deliver_image(
    ctx: &Ctx,
    plan: &crate::deploy::plan::Plan,
    conns: &super::context::Conns,
) -> anyhow::Result<()> {
    let progress = Progress::new(ctx.out, &plan.host_names());
    let exec = Execution::new(
        plan,
        conns,
        &progress,
        ctx.proxy_image(),
        ctx.out,
        ctx.cancel_signal(),
    );
    let result = exec.deliver().await;
    drop(progress);
    result
}
