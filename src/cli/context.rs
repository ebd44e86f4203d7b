//! What every host-touching command shares: the loaded config, the selected hosts and roles
//! (with no version: [`Targets`]), the plan for a version, SSH connections to the hosts (one
//! per host), hooks with the facts of the one plan, the proxy image, the performer's name, and
//! Ctrl-C handling (first Ctrl-C asks running work to stop cleanly; a second one exits at once).

use super::Global;
use crate::config::types::ContextSource;
use crate::deploy::plan::{Movement, Plan};
use crate::deploy::settings::Settings;
use crate::deploy::targets::Targets;
use crate::error::{fail, Kind};
use crate::hooks::Hooks;
use crate::output::Output;
use crate::proxy::image::ProxyImage;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;

pub struct Ctx {
    pub out: Output,
    pub global: Global,
    cancel_tx: watch::Sender<bool>,
    settings: OnceLock<Settings>,
    proxy_image: OnceLock<ProxyImage>,
}

impl Ctx {
    pub fn new(out: Output, global: Global) -> Ctx {
        let (cancel_tx, _) = watch::channel(false);
        let ctx = Ctx {
            out,
            global,
            cancel_tx,
            settings: OnceLock::new(),
            proxy_image: OnceLock::new(),
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

    /// The plan for `movement` to `version` (`skip_push`: the image is not built here).
    pub fn plan(&self, version: &str, movement: Movement, skip_push: bool) -> anyhow::Result<Plan> {
        let plan = self.settings()?.plan(version, movement, skip_push);
        if plan.hosts.is_empty() {
            return Err(no_app_hosts());
        }
        Ok(plan)
    }

    /// The selected hosts and roles, for commands that act on what is deployed (no version).
    pub fn targets(&self) -> anyhow::Result<Targets> {
        let targets = self.settings()?.targets();
        if targets.hosts.is_empty() {
            return Err(no_app_hosts());
        }
        Ok(targets)
    }

    /// The version to deploy: --version, else the git SHA (built from the committed tree:
    /// uncommitted changes named in a warning; from the working tree: -dirty and a warning).
    pub fn version(&self) -> anyhow::Result<String> {
        let cwd = std::env::current_dir()?;
        let explicit = self.global.version.as_deref();
        let v = match self.settings()?.builder.context_source {
            ContextSource::Commit => crate::image::version::resolve_committed(explicit, &cwd)?,
            ContextSource::WorkingTree => crate::image::version::resolve(explicit, &cwd, true)?,
        };
        if let Some(w) = v.dirty_warning() {
            self.out.warn(w);
        }
        Ok(v.tag)
    }

    /// Hooks with the facts of `plan` (its version included), from the config's hooks_path.
    pub fn hooks(&self, plan: &Plan) -> Hooks {
        let mut hooks = self.hooks_for(
            &plan.service,
            plan.destination.as_deref(),
            &plan.host_names(),
            &plan.role_names(),
        );
        hooks.set("VERSION", plan.version.clone());
        hooks.set(
            "SERVICE_VERSION",
            format!("{}@{}", plan.service, plan.version),
        );
        hooks
    }

    /// Hooks for commands that move no version (`dhow proxy reboot`): no `DHOW_VERSION`.
    pub fn hooks_without_version(&self, targets: &Targets) -> Hooks {
        self.hooks_for(
            &targets.service,
            targets.destination.as_deref(),
            &targets.host_names(),
            &targets.role_names(),
        )
    }

    fn hooks_for(
        &self,
        service: &str,
        destination: Option<&str>,
        hosts: &[String],
        roles: &[String],
    ) -> Hooks {
        let Ok(settings) = self.settings() else {
            return Hooks::new("hooks", true);
        };
        let mut hooks =
            Hooks::new(&settings.hooks_path, self.global.skip_hooks).with_output(self.out);
        hooks.set("SERVICE", service);
        hooks.set("DESTINATION", destination.unwrap_or_default());
        hooks.set("HOSTS", hosts.join(","));
        hooks.set("ROLES", roles.join(","));
        hooks.set("PERFORMER", self.performer());
        hooks.set("RECORDED_AT", now_rfc3339());
        hooks
    }

    /// Connect to `hosts` (in parallel, one SSH connection each, Docker over it). Every host
    /// must answer: otherwise nothing is done and the error names each failing host.
    pub async fn connect(&self, hosts: &[String]) -> anyhow::Result<Conns> {
        let settings = self.settings()?;
        let targets: Vec<_> = hosts
            .iter()
            .map(|h| (h.clone(), settings.target(h)))
            .collect();
        crate::host::connect_all(&targets, &settings.ssh).await
    }

    /// Build the image locally (and push it when a registry is configured).
    pub async fn build_and_push(&self, plan: &Plan) -> anyhow::Result<()> {
        let s = self.settings()?;
        let local = crate::docker::connect_local().await?;
        let spec = crate::image::build::BuildSpec {
            context_dir: s.builder.context.clone(),
            // The commit the version names (HEAD when --version was given).
            source: match s.builder.context_source {
                ContextSource::WorkingTree => crate::image::source::ContextSource::WorkingTree,
                ContextSource::Commit => {
                    crate::image::source::ContextSource::Commit(match self.global.version {
                        Some(_) => "HEAD".to_string(),
                        None => plan.version.clone(),
                    })
                }
            },
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
        let mut last_step = String::new();
        crate::image::build::build(&local, &spec, |ev| match ev {
            // A line per build step; the steps' own output with -v.
            crate::image::build::BuildEvent::Output(line) => {
                match crate::image::build::step_line(&line) {
                    Some(step) if !out.verbose => {
                        if step != last_step {
                            out.info(format!("  {step}"));
                            last_step = step.to_string();
                        }
                    }
                    _ => out.debug(line.trim_end()),
                }
            }
            crate::image::build::BuildEvent::Note(note) => out.warn(note),
            _ => {}
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

    /// The proxy image for hosts that lack it (each architecture's archive made once per
    /// run; a `proxy.image` in the app's registry pulled with its login).
    pub fn proxy_image(&self) -> &ProxyImage {
        self.proxy_image.get_or_init(|| {
            ProxyImage::new(
                self.settings()
                    .ok()
                    .and_then(|s| s.registry.as_ref())
                    .map(crate::image::pull::RegistryAccess::from),
            )
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
}

fn no_app_hosts() -> anyhow::Error {
    fail(
        Kind::Usage,
        "the -h/-r/-p filters select only accessory hosts; the app runs on none of them",
    )
}

/// Now as `2026-11-22T10:00:00Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Parse a command-line duration flag (`30s`, `2m`, `1h30m`, `500ms`, bare seconds): the one
/// grammar of `dhow_proxy_api::duration`, shared with the config and the proxy.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    dhow_proxy_api::duration::parse(s)
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
pub type Conns = crate::host::HostConns;
