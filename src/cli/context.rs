//! What every host-touching command shares: the loaded config, the selected hosts and roles,
//! the plan for a version, SSH connections to the hosts (one per host), hooks, the performer's
//! name, and Ctrl-C handling (first Ctrl-C asks running work to stop cleanly; a second one
//! exits at once).

use super::Global;
use crate::deploy::plan::Plan;
use crate::deploy::settings::Settings;
use crate::error::{fail, Kind};
use crate::hooks::Hooks;
use crate::host::conn::HostConn;
use crate::image::scratch::Archive;
use crate::output::Output;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// A host operation handed to the executor (deliver the app image, load the proxy image).
pub type BoxedHostOp =
    Box<dyn Fn(HostConn) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

pub struct Ctx {
    pub out: Output,
    pub global: Global,
    cancel_tx: watch::Sender<bool>,
    settings: OnceLock<Settings>,
    proxy_archive: Arc<OnceLock<Archive>>,
}

impl Ctx {
    pub fn new(out: Output, global: Global) -> Ctx {
        let (cancel_tx, _) = watch::channel(false);
        let ctx = Ctx {
            out,
            global,
            cancel_tx,
            settings: OnceLock::new(),
            proxy_archive: Arc::new(OnceLock::new()),
        };
        ctx.watch_ctrl_c();
        ctx
    }

    /// The deploy settings from the config (loaded and validated once).
    pub fn settings(&self) -> anyhow::Result<&Settings> {
        if let Some(s) = self.settings.get() {
            return Ok(s);
        }
        let config = super::hosts::load_config(&self.global)?;
        let loaded = crate::deploy::from_config::settings(&config, &self.global.selection())?;
        Ok(self.settings.get_or_init(|| loaded))
    }

    /// The plan for `version`.
    pub fn plan(&self, version: &str) -> anyhow::Result<Plan> {
        let plan = self.settings()?.plan(version);
        if plan.hosts.is_empty() {
            return Err(fail(
                Kind::Usage,
                "the -h/-r/-p filters select only accessory hosts; the app runs on none of them",
            ));
        }
        Ok(plan)
    }

    /// The version to deploy: --version, else the git SHA (with -dirty and a warning).
    pub fn version(&self) -> anyhow::Result<String> {
        let cwd = std::env::current_dir()?;
        let v = crate::image::version::resolve(self.global.version.as_deref(), &cwd, true)?;
        if let Some(w) = v.dirty_warning() {
            self.out.warn(w);
        }
        Ok(v.tag)
    }

    /// Hooks for a version, from the config's hooks_path.
    pub fn hooks(&self, version: &str) -> Hooks {
        match self.settings() {
            Ok(s) => self.hooks_with(&s.hooks_path, &s.plan(version)),
            Err(_) => Hooks::new("hooks", true),
        }
    }

    /// Connect to `hosts` (in parallel, one SSH connection each, Docker over it). Every host
    /// must answer: otherwise nothing is done and the error names each failing host.
    pub async fn connect(&self, hosts: &[String]) -> anyhow::Result<Conns> {
        let settings = self.settings()?;
        let tasks = hosts.iter().map(|h| {
            let target = settings.target(h);
            let ssh = settings.ssh.clone();
            let name = h.clone();
            async move {
                let session = crate::host::ssh::Session::connect(&target, &ssh).await?;
                let docker = crate::host::docker_tunnel::connect(&session).await?;
                Ok::<_, anyhow::Error>(HostConn {
                    name,
                    shell: Arc::new(session),
                    docker,
                })
            }
        });
        let results = futures::future::join_all(tasks).await;
        let mut conns = HashMap::new();
        let mut failures = Vec::new();
        let mut kind = Kind::Connection;
        for (host, r) in hosts.iter().zip(results) {
            match r {
                Ok(c) => {
                    conns.insert(host.clone(), c);
                }
                Err(e) => {
                    kind = crate::error::kind_of(&e);
                    failures.push(format!("{e:#}"));
                }
            }
        }
        if !failures.is_empty() {
            return Err(fail(
                kind,
                format!(
                    "cannot reach every host, so nothing was changed:\n  {}\n(use -h to leave a host out)",
                    failures.join("\n  ")
                ),
            ));
        }
        Ok(conns)
    }

    /// Build the image locally (and push it when a registry is configured).
    pub async fn build_and_push(&self, plan: &Plan) -> anyhow::Result<()> {
        let s = self.settings()?;
        let local = crate::image::engine::connect_local().await?;
        let spec = crate::image::build::BuildSpec {
            context_dir: s.builder.context.clone(),
            dockerfile: s.builder.dockerfile.clone(),
            target: s.builder.target.clone(),
            args: s.builder.args.clone(),
            secrets: s.builder.secrets.clone(),
            secret_values: s.builder.secret_values.clone(),
            tags: vec![plan.image_ref.clone(), format!("{}:latest", s.image)],
            labels: std::collections::BTreeMap::from([(
                crate::deploy::container::LABEL_SERVICE.to_string(),
                s.service.clone(),
            )]),
            arch: s.builder.arch.clone(),
        };
        self.out.info(format!("building {}", plan.image_ref));
        let out = self.out;
        crate::image::build::build(&local, &spec, |ev| {
            if let crate::image::build::BuildEvent::Output(line) = ev {
                out.debug(line.trim_end());
            }
        })
        .await?;
        if let Some(r) = &s.registry {
            self.out
                .info(format!("pushing {} to {}", plan.image_ref, r.server));
            let login = crate::image::credentials::Login {
                username: r.username.clone(),
                password: r.password.clone(),
            };
            crate::image::registry::push(&local, &plan.image_ref, Some(&login), |l| out.debug(l))
                .await?;
        }
        Ok(())
    }

    /// How the app image reaches a host: pulled from the registry, or streamed from the
    /// local engine over the host's SSH connection (skipped when the host has it already).
    pub fn app_delivery(&self, plan: &Plan, skip_push: bool) -> BoxedHostOp {
        let image_ref = plan.image_ref.clone();
        let registry = self.settings().ok().and_then(|s| s.registry.clone());
        let out = self.out;
        Box::new(move |host: HostConn| {
            let image_ref = image_ref.clone();
            let registry = registry.clone();
            Box::pin(async move {
                if let Some(r) = registry {
                    return crate::deploy::delivery::pull_from_registry(
                        &host,
                        &image_ref,
                        &r,
                        |l| out.debug(l),
                    )
                    .await;
                }
                if skip_push {
                    return match host.docker.inspect_image(&image_ref).await {
                        Ok(_) => Ok(()),
                        Err(_) => Err(fail(
                            Kind::Usage,
                            format!("{}: image {image_ref} is not on the host; deploy without --skip-push to deliver it", host.name),
                        )),
                    };
                }
                let local = crate::image::engine::connect_local().await?;
                crate::image::transfer::copy(&local, &host.docker, &image_ref, |_| {}).await?;
                Ok(())
            })
        })
    }

    /// How the proxy image reaches a host: made from the static dhow-proxy binary, once.
    pub fn proxy_delivery(&self) -> BoxedHostOp {
        let cache = self.proxy_archive.clone();
        Box::new(move |host: HostConn| {
            let cache = cache.clone();
            Box::pin(async move {
                let tag = crate::proxy::on_host::image_tag();
                let archive = match cache.get() {
                    Some(a) => a.clone(),
                    None => {
                        let a = crate::proxy::image::archive(&tag)?;
                        cache.get_or_init(|| a).clone()
                    }
                };
                crate::image::scratch::load(&host.docker, &archive, &tag).await?;
                Ok(())
            })
        })
    }

    /// How the proxy container is started on each host (ports, ACME settings).
    pub fn proxy_boot(&self) -> crate::proxy::on_host::BootOptions {
        self.settings()
            .map(|s| s.proxy.boot.clone())
            .unwrap_or_default()
    }

    fn watch_ctrl_c(&self) {
        let tx = self.cancel_tx.clone();
        let out = self.out;
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                out.warn("interrupted: finishing the current step cleanly (Ctrl-C again to quit at once)");
                let _ = tx.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("error: quit at once; check `dhow lock status` and `dhow versions`");
                    std::process::exit(130);
                }
            }
        });
    }

    /// Has the user pressed Ctrl-C?
    pub fn cancelled(&self) -> bool {
        *self.cancel_tx.borrow()
    }

    /// A receiver that changes to `true` on Ctrl-C.
    pub fn cancel_signal(&self) -> watch::Receiver<bool> {
        self.cancel_tx.subscribe()
    }

    /// Who is deploying: $DHOW_PERFORMER, else `git config user.name`, else $USER.
    pub fn performer(&self) -> String {
        if let Ok(p) = std::env::var("DHOW_PERFORMER") {
            if !p.trim().is_empty() {
                return p;
            }
        }
        let git = std::process::Command::new("git")
            .args(["config", "user.name"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty());
        git.or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The version given with --version, if any.
    pub fn explicit_version(&self) -> Option<String> {
        self.global.version.clone()
    }

    /// Hooks with the deploy's facts set.
    pub fn hooks_with(&self, dir: &std::path::Path, plan: &Plan) -> Hooks {
        let mut hooks = Hooks::new(dir, self.global.skip_hooks).with_output(self.out);
        hooks.set("SERVICE", plan.service.clone());
        hooks.set("VERSION", plan.version.clone());
        hooks.set("DESTINATION", plan.destination.clone().unwrap_or_default());
        hooks.set("HOSTS", plan.host_names().join(","));
        let mut roles: Vec<String> = plan
            .hosts
            .iter()
            .flat_map(|h| h.roles.iter().map(|r| r.role.clone()))
            .collect();
        roles.sort();
        roles.dedup();
        hooks.set("ROLES", roles.join(","));
        hooks.set("PERFORMER", self.performer());
        hooks.set("RECORDED_AT", now_rfc3339());
        hooks.set(
            "SERVICE_VERSION",
            format!("{}@{}", plan.service, plan.version),
        );
        hooks
    }
}

/// Now as `2026-11-22T10:00:00Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Parse `30s`, `2m`, `1h`, `500ms` for command-line flags.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 2m or 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("`{s}` is not a duration like 30s, 2m or 1h")),
    }
}

/// Ask a yes/no question on the terminal; refuses (with advice) when there is none.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            Kind::Usage,
            format!("{question} needs confirmation, and there is no terminal to ask: pass -y"),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Map of connections keyed by host name.
pub type Conns = HashMap<String, HostConn>;
