//! `dhow proxy ...`: the dhow-proxy containers on the selected hosts (the proxy and its port
//! holder): boot them, reboot the proxy on the image of this dhow release and the config's
//! settings (the upgrade path, with no gap: see proxy/replace.rs; `--rolling` one host at a
//! time), start, stop, restart, details (its routes and settings), logs, remove. Routes live
//! in its state volume, so a rebooted or re-booted proxy serves what it served before.

use super::context::Ctx;
use crate::deploy::targets::Targets;
use crate::docker::containers;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::host::HostConns;
use crate::proxy::on_host::{self as px, CONTAINER, PORTS_CONTAINER, STATE_VOLUME};
use crate::proxy::replace::{self, Replaced};
use hyper::Method;
use std::time::Duration;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ProxyCommand {
    /// Boot the proxy where it is not running (routes come back from its volume).
    Boot,
    /// Replace the proxy with one from this dhow's proxy image and this config's [proxy] boot
    /// settings, with no failed request: the new one starts beside the old one, takes the same
    /// listening sockets and the old one hands over (an upgrade; `dhow proxy details` shows
    /// the settings each host runs with).
    Reboot {
        /// One host at a time, each replaced before the next starts.
        #[arg(long)]
        rolling: bool,
    },
    /// Start a stopped proxy (and its port holder).
    Start,
    /// Stop the proxy and its port holder (the hosts refuse HTTP until `proxy start`).
    Stop,
    /// Restart the proxy container (same image; connections wait in the port holder meanwhile).
    Restart,
    /// The proxy, its settings beside the config's, and the services it routes, per host.
    Details,
    /// The proxy's logs (one JSON line per request).
    Logs(super::app::LogsArgs),
    /// Write the static dhow-proxy binary this dhow carries for an architecture (to build a
    /// proxy image of your own from proxy/Dockerfile, for proxy.image). Needs no config.
    Binary {
        /// `amd64` (x86_64) or `arm64` (aarch64).
        #[arg(long, default_value = "amd64")]
        arch: String,
        /// Where to write it (made executable).
        #[arg(short = 'o', long)]
        output: std::path::PathBuf,
    },
    /// Remove the proxy container (its state volume is kept). Refuses while another service
    /// is routed through it, unless --force.
    Remove {
        /// Remove even if other services are routed through it.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: &ProxyCommand) -> anyhow::Result<()> {
    if let ProxyCommand::Binary { arch, output } = cmd {
        return super::proxy_binary::write(ctx, arch, output);
    }
    let plan = ctx.targets()?;
    let hosts = plan.host_names();
    let conns = ctx.connect(&hosts).await?;
    let conn = |h: &str| conn_of(&conns, h);
    let say = |h: &str, line: &str| ctx.out.host_line(h, "stdout", line);
    match cmd {
        ProxyCommand::Logs(args) => {
            let tasks = hosts.iter().map(|h| {
                let c = conn(h);
                async move { super::app::logs(ctx, &c?, h, CONTAINER, args).await }
            });
            for r in futures::future::join_all(tasks).await {
                r?;
            }
            Ok(())
        }
        ProxyCommand::Reboot { rolling } => reboot_all(ctx, &plan, &hosts, &conns, *rolling).await,
        ProxyCommand::Remove { force, yes } => {
            remove(ctx, &plan, &hosts, &conns, *force, *yes).await
        }
        _ => {
            for h in &hosts {
                let c = conn(h)?;
                match cmd {
                    ProxyCommand::Boot => {
                        let ensured = px::ensure(&c, &ctx.proxy_boot(), ctx.proxy_image()).await?;
                        say(
                            h,
                            match ensured {
                                px::Ensured::AlreadyRunning => "proxy: already running",
                                px::Ensured::Started => "proxy: started",
                                px::Ensured::Booted => "proxy: booted",
                                px::Ensured::Upgraded => {
                                    "proxy: upgraded to this dhow's build, with no gap"
                                }
                            },
                        );
                    }
                    ProxyCommand::Start => {
                        if containers::inspect(&c.docker, PORTS_CONTAINER)
                            .await?
                            .is_some()
                        {
                            containers::start(&c.docker, PORTS_CONTAINER).await?;
                        }
                        containers::start(&c.docker, CONTAINER).await?;
                        px::wait_booted(&c, Duration::from_secs(30)).await?;
                        say(h, "proxy started");
                    }
                    ProxyCommand::Stop => {
                        containers::stop(&c.docker, CONTAINER, Duration::from_secs(30)).await?;
                        // The ports close too: connections are refused rather than left
                        // waiting in the holder's queues for a proxy that is not coming.
                        containers::stop(&c.docker, PORTS_CONTAINER, Duration::from_secs(10))
                            .await?;
                        say(h, "proxy stopped");
                    }
                    ProxyCommand::Restart => {
                        containers::stop(&c.docker, CONTAINER, Duration::from_secs(30)).await?;
                        containers::start(&c.docker, CONTAINER).await?;
                        px::wait_booted(&c, Duration::from_secs(30)).await?;
                        say(h, "proxy restarted");
                    }
                    ProxyCommand::Details => super::proxy_details::details(ctx, &c, h).await?,
                    _ => {}
                }
            }
            Ok(())
        }
    }
}

/// A connection from `conns`, or an internal error (every selected host was connected).
fn conn_of(conns: &HostConns, h: &str) -> anyhow::Result<HostConn> {
    conns
        .get(h)
        .cloned()
        .ok_or_else(|| fail(Kind::Internal, format!("no connection to {h}")))
}

/// `proxy reboot`: every host at once, or one after the other with --rolling.
async fn reboot_all(
    ctx: &Ctx,
    plan: &Targets,
    hosts: &[String],
    conns: &HostConns,
    rolling: bool,
) -> anyhow::Result<()> {
    let conn = |h: &str| conn_of(conns, h);
    let say = |h: &str, line: &str| ctx.out.host_line(h, "stdout", line);
    let hooks = ctx.hooks_without_version(plan);
    hooks.run("pre-proxy-reboot", &[]).await?;
    let image = ctx.proxy_image();
    let ports = ctx.proxy_boot();
    let reboot_one = |h: String| {
        let ports = &ports;
        async move {
            let c = conn(&h)?;
            let note = |line: String| say(&h, &line);
            let done = reboot(&c, ports, image, &note).await?;
            say(&h, &done);
            Ok::<_, anyhow::Error>(())
        }
    };
    if rolling {
        for h in hosts {
            reboot_one(h.clone()).await?;
        }
    } else {
        let results = futures::future::join_all(hosts.iter().cloned().map(reboot_one)).await;
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(|r| r.err().map(|e| format!("{e:#}")))
            .collect();
        if !failed.is_empty() {
            return Err(fail(
                Kind::Remote,
                format!("proxy reboot failed:\n  {}", failed.join("\n  ")),
            ));
        }
    }
    hooks.run("post-proxy-reboot", &[]).await?;
    Ok(())
}

/// `proxy remove`: refuses while a host's proxy routes another service, unless --force.
async fn remove(
    ctx: &Ctx,
    plan: &Targets,
    hosts: &[String],
    conns: &HostConns,
    force: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let conn = |h: &str| conn_of(conns, h);
    let say = |h: &str, line: &str| ctx.out.host_line(h, "stdout", line);
    for h in hosts {
        let c = conn(h)?;
        let ours = our_routes(&c, plan).await;
        let others: Vec<String> = match routed(&c).await {
            Ok(list) => list.into_iter().filter(|s| !ours.contains(s)).collect(),
            Err(e) if !force => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{h}: the proxy's control socket did not answer ({e:#}), so dhow \
                         cannot tell whether other services route through it. Use --force to \
                         remove it anyway"
                    ),
                ))
            }
            Err(_) => Vec::new(),
        };
        if !others.is_empty() && !force {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{h}: the proxy also routes {}; removing it would take them down. \
                     Use --force to remove it anyway",
                    others.join(", ")
                ),
            ));
        }
    }
    if !yes
        && !super::context::confirm(&format!(
            "Remove the dhow-proxy container from {}? Their HTTP traffic stops.",
            hosts.join(", ")
        ))?
    {
        return Err(fail(
            Kind::Usage,
            "not confirmed; nothing removed (use -y to skip the question)",
        ));
    }
    for h in hosts {
        px::remove_all(&conn(h)?).await?;
        say(
            h,
            &format!("proxy removed (its routes stay in the {STATE_VOLUME} volume)"),
        );
    }
    Ok(())
}

/// `dhow remove`: the app from the selected hosts, its accessories, then each host's proxy unless another
/// service still routes through it (then it stays, and dhow says so).
pub async fn remove_everything(ctx: &Ctx, yes: bool) -> anyhow::Result<()> {
    let plan = ctx.targets()?;
    let hosts = plan.host_names();
    if !yes
        && !super::context::confirm(&format!(
            "Remove {} (containers, images, routes){} and the proxy from {}?",
            plan.service,
            if ctx.settings()?.accessories.is_empty() {
                ""
            } else {
                ", its accessories (data directories and volumes are kept)"
            },
            hosts.join(", ")
        ))?
    {
        return Err(fail(
            Kind::Usage,
            "not confirmed; nothing removed (use -y to skip the question)",
        ));
    }
    super::app::run(ctx, &super::app::AppCommand::Remove { yes: true }).await?;
    if ctx
        .settings()?
        .accessories
        .iter()
        .any(|a| !a.hosts.is_empty())
    {
        super::accessory::run(
            ctx,
            &super::accessory::AccessoryCommand::Remove {
                name: "all".into(),
                yes: true,
            },
        )
        .await?;
    }
    let conns = ctx.connect(&hosts).await?;
    for h in &hosts {
        let Some(c) = conns.get(h) else { continue };
        if !matches!(containers::inspect(&c.docker, CONTAINER).await, Ok(Some(_))) {
            continue;
        }
        // Never remove a proxy without knowing that nobody else routes through it.
        let others = match routed(c).await {
            Ok(list) => {
                let ours = our_routes(c, &plan).await;
                list.into_iter()
                    .filter(|s| !ours.contains(s))
                    .collect::<Vec<_>>()
            }
            Err(e) => {
                ctx.out.host_line(
                    h,
                    "stdout",
                    &format!(
                        "proxy kept: its control socket did not answer ({e:#}), so dhow cannot \
                         tell whether other services route through it; `dhow proxy remove` \
                         removes it once it answers, or `docker rm -f {CONTAINER}` by hand"
                    ),
                );
                continue;
            }
        };
        if others.is_empty() {
            px::remove_all(c).await?;
            ctx.out.host_line(h, "stdout", "proxy removed");
        } else {
            ctx.out.host_line(
                h,
                "stdout",
                &format!("proxy kept: it also routes {}", others.join(", ")),
            );
        }
    }
    Ok(())
}

/// The proxy service names of this app's roles on a host (an older dhow's names where the
/// proxy still routes them to this app: deploy/routes.rs).
async fn our_routes(c: &HostConn, plan: &Targets) -> Vec<String> {
    let mut names = Vec::new();
    for r in plan.hosts.iter().flat_map(|hp| hp.roles.iter()) {
        names.push(crate::deploy::routes::name_on(c, &r.prefix).await);
    }
    names
}

/// The services a host's proxy routes.
async fn routed(c: &HostConn) -> anyhow::Result<Vec<String>> {
    let list = px::control(c, Method::GET, "/v1/services", None).await?;
    Ok(list["services"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Replace the proxy on one host with one from this dhow's image and the config's settings
/// (with no gap where the host has the port holder; see proxy/replace.rs).
async fn reboot(
    c: &HostConn,
    ports: &px::BootOptions,
    image: &crate::proxy::image::ProxyImage,
    note: &(dyn Fn(String) + Sync),
) -> anyhow::Result<String> {
    let tag = px::image_for(c, ports).await?;
    px::provide_image(c, ports, &tag, image).await?;
    Ok(match replace::replace(c, &tag, ports, note).await? {
        Replaced::Booted => "proxy booted".to_string(),
        Replaced::ByAnother => "proxy replaced by another dhow meanwhile".to_string(),
        Replaced::WithGap { gap, why } => {
            format!(
                "proxy replaced ({why}); serving again after {:.1}s",
                gap.as_secs_f64()
            )
        }
        Replaced::HandedOver { drained } => format!(
            "proxy replaced with no gap; the old one finished its connections in {:.1}s",
            drained.as_secs_f64()
        ),
    })
}
