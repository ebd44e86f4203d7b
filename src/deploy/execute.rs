//! Executing a plan across hosts by walking [`Plan::steps`], the list `--dry-run` prints:
//! prepare every host (its host steps: network, proxy, image) before anything switches, then
//! boot the primary role and afterwards the other roles (their role steps), `boot.limit` hosts
//! at a time with `boot.wait` between groups, then prune. Every step run is journaled.
//!
//! Failure policy: a host that fails stops the run after its group finishes; hosts already
//! switched keep the new version (running the command again converges them), all others keep
//! the old one. On Ctrl-C, roles switched during this run are switched back to the container
//! that served before, so the old version serves everywhere.

use super::bake::Baked;
use super::boot::{self, Booted, Takeover};
use super::host_ops::HostOps;
use super::plan::{Delivery, HostPlan, Plan};
use super::steps::{At, HostStep, HostSteps, RoleStep, RoleSteps};
use crate::error::{fail, Kind};
use crate::image::layers::deliver::{Outcome, Source};
use crate::progress::{Progress, Row};
use crate::proxy::image::ProxyImage;
use crate::proxy::on_host::Ensured;
use futures::future::join_all;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::watch;
use tracing::Instrument;

/// Everything execution needs besides the plan: plain data, no callbacks.
pub struct Execution<'a, H: HostOps> {
    pub(super) plan: &'a Plan,
    hosts: &'a HashMap<String, H>,
    progress: &'a Progress,
    proxy_image: &'a ProxyImage,
    /// Where detail lines of image pulls go (`-v`).
    out: crate::output::Output,
    cancel: watch::Receiver<bool>,
    journal: Mutex<Vec<At>>,
    /// The image as every host's layer delivery serves it (prepared on first need).
    layers: Source,
    /// Roles switched with a bake window, whose old containers still run (`bake.rs`).
    pub(super) baked: Mutex<Vec<Baked>>,
}

/// A role switched during this run (for rollback on Ctrl-C).
#[derive(Debug, Clone)]
pub(super) struct Switched {
    pub(super) host: String,
    pub(super) role: String,
    pub(super) previous: Option<String>,
}

/// What the run collects while it goes.
#[derive(Default)]
pub(super) struct Tally {
    rows: Mutex<Vec<Row>>,
    pub(super) switched: Mutex<Vec<Switched>>,
}

pub(super) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a, H: HostOps> Execution<'a, H> {
    pub fn new(
        plan: &'a Plan,
        hosts: &'a HashMap<String, H>,
        progress: &'a Progress,
        proxy_image: &'a ProxyImage,
        out: crate::output::Output,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        Execution {
            plan,
            hosts,
            progress,
            proxy_image,
            out,
            cancel,
            journal: Mutex::new(Vec::new()),
            layers: Source::new(&plan.image_ref),
            baked: Mutex::new(Vec::new()),
        }
    }

    /// The steps run so far, in the order they started.
    #[cfg(test)]
    pub fn journal(&self) -> Vec<At> {
        locked(&self.journal).clone()
    }

    pub(super) fn progress_step(&self, host: &str, role: &str, msg: &str) {
        self.progress.step(host, Some(role), msg)
    }

    fn record(&self, at: At) {
        locked(&self.journal).push(at);
    }

    pub(super) fn conn(&self, host: &str) -> anyhow::Result<&H> {
        self.hosts
            .get(host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {host}")))
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Run the plan. Returns the summary rows and the overall result.
    pub async fn run(&self) -> (Vec<Row>, anyhow::Result<()>) {
        let tally = Tally::default();
        let steps = self.plan.steps();
        let result = self.phases(&steps, &tally).await;
        // Interrupted: whatever finished meanwhile goes back to what served before.
        let result = if self.cancelled() {
            let to_undo = locked(&tally.switched).clone();
            let undone = self.undo(&to_undo).await;
            let cause = result.err().map(|e| format!(": {e:#}")).unwrap_or_default();
            Err(fail(
                Kind::Deploy,
                format!("interrupted (Ctrl-C){cause}\n{undone}"),
            ))
        } else {
            result
        };
        let rows = tally.rows.into_inner().unwrap_or_else(|p| p.into_inner());
        (rows, result)
    }

    /// Only bring the plan's image to every host (`dhow build deliver`, `dhow build pull`):
    /// each host's [`HostStep::Deliver`] at once, as a deploy runs it; nothing is started or
    /// switched. Fails naming each host that did not get the image.
    pub async fn deliver(&self) -> anyhow::Result<()> {
        let results = join_all(self.plan.hosts.iter().map(|host| {
            async move {
                let conn = self.conn(&host.host)?;
                self.record(At::host(host, HostStep::Deliver));
                let result = self.host_step(conn, host, HostStep::Deliver).await;
                let (ok, msg) = match &result {
                    Ok(()) => (true, format!("{} delivered", self.plan.image_ref)),
                    Err(_) => (false, "delivering failed".to_string()),
                };
                self.progress.finish(&host.host, ok, &msg);
                result.map_err(|e| fail(Kind::Deploy, format!("{}: {e:#}", host.host)))
            }
            .instrument(host_span(&host.host, None))
        }))
        .await;
        let failures = errors(results);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(fail(Kind::Deploy, failures.join("\n")))
        }
    }

    async fn phases(&self, steps: &[HostSteps<'_>], tally: &Tally) -> anyhow::Result<()> {
        // Phase 0: every host ready before anything switches.
        let prepared = join_all(
            steps
                .iter()
                .map(|h| self.prepare(h).instrument(host_span(&h.host.host, None))),
        )
        .await;
        let failures = errors(prepared);
        if !failures.is_empty() {
            return Err(fail(
                Kind::Deploy,
                format!(
                    "preparing hosts failed; nothing was switched:\n{}",
                    failures.join("\n")
                ),
            ));
        }
        // Phase 1: the primary role; phase 2: the others.
        for primary in [true, false] {
            for (i, group) in steps.chunks(self.plan.boot_limit.max(1)).enumerate() {
                let work: Vec<_> = group
                    .iter()
                    .flat_map(|h| {
                        h.roles
                            .iter()
                            .filter(|r| r.role.primary == primary)
                            .map(move |r| (h.host, r))
                    })
                    .collect();
                if work.is_empty() {
                    continue;
                }
                if i > 0 && !self.plan.boot_wait.is_zero() {
                    tokio::time::sleep(self.plan.boot_wait).await;
                }
                if self.cancelled() {
                    return Err(fail(
                        Kind::Deploy,
                        "interrupted (Ctrl-C) before all hosts were switched",
                    ));
                }
                let results = join_all(work.iter().map(|(h, r)| {
                    self.boot_role(h, r, tally)
                        .instrument(host_span(&h.host, Some(&r.role.role)))
                }))
                .await;
                let failures = errors(results);
                if !failures.is_empty() {
                    return Err(fail(Kind::Deploy, failures.join("\n")));
                }
            }
        }
        // With a bake window: every host's verdict, then the old containers stop (or all go
        // back).
        self.bake_phase(tally).await?;
        // Phase 3: prune old containers (best effort, reported).
        let pruned = join_all(
            steps
                .iter()
                .map(|h| self.prune(h).instrument(host_span(&h.host.host, None))),
        )
        .await;
        for (h, r) in steps.iter().zip(pruned) {
            let host = &h.host.host;
            match r {
                Ok(removed) if !removed.is_empty() => {
                    self.progress
                        .step(host, None, &format!("pruned {}", removed.join(", ")))
                }
                Ok(_) => {}
                Err(e) => self.progress.println(&format!(
                    "warning: {host}: pruning old containers failed: {e:#}"
                )),
            }
            self.progress.finish(host, true, &self.plan.version);
        }
        Ok(())
    }

    async fn prepare(&self, steps: &HostSteps<'_>) -> anyhow::Result<()> {
        let host = steps.host;
        let conn = self.conn(&host.host)?;
        let result = async {
            for step in &steps.prepare {
                self.record(At::host(host, *step));
                self.host_step(conn, host, *step).await?;
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(e) = &result {
            self.progress.finish(&host.host, false, "preparing failed");
            return Err(fail(Kind::Deploy, format!("{}: {e:#}", host.host)));
        }
        Ok(())
    }

    async fn host_step(&self, conn: &H, host: &HostPlan, step: HostStep) -> anyhow::Result<()> {
        let plan = self.plan;
        match step {
            HostStep::EnsureNetworkAndProxy => {
                self.progress
                    .step(&host.host, None, "ensuring network and proxy");
                let ensured = conn
                    .ensure_proxy(&plan.proxy_boot, self.proxy_image)
                    .await?;
                if ensured != Ensured::AlreadyRunning {
                    let msg = format!("proxy {ensured:?}").to_lowercase();
                    self.progress.step(&host.host, None, &msg);
                }
            }
            HostStep::EnsureNetwork => conn.ensure_network().await?,
            HostStep::Deliver => {
                self.progress.step(&host.host, None, "delivering the image");
                let image = &plan.image_ref;
                match &plan.delivery {
                    Delivery::Registry(r) => {
                        let out = self.out;
                        conn.pull(image, r, &move |l: &str| out.debug(l)).await?
                    }
                    Delivery::Layers => {
                        let h = host.host.as_str();
                        let sent = |bytes| self.progress.bytes(h, "delivering the image", bytes);
                        let outcome = conn.receive_layers(&self.layers, &sent).await?;
                        self.progress
                            .bytes_done(h, "delivering the image", outcome.sent());
                        if self.out.json {
                            let mut fields = outcome.fields();
                            fields["host"] = serde_json::json!(h);
                            self.out.event("image_delivery", fields);
                        } else if outcome != Outcome::AlreadyThere {
                            self.progress.step(h, None, &outcome.summary());
                        }
                    }
                    Delivery::Ssh => {
                        let h = host.host.as_str();
                        let sent = |bytes| self.progress.bytes(h, "delivering the image", bytes);
                        let total = conn.receive(image, &sent).await?;
                        self.progress.bytes_done(h, "delivering the image", total);
                    }
                    Delivery::OnHosts => {
                        if !conn.has_image(image).await {
                            return Err(fail(
                                Kind::Usage,
                                format!("{}: image {image} is not on the host; deploy without --skip-push to deliver it", host.host),
                            ));
                        }
                    }
                    Delivery::Nothing => {}
                }
            }
        }
        Ok(())
    }

    async fn boot_role(
        &self,
        host: &HostPlan,
        role: &RoleSteps<'_>,
        tally: &Tally,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let result = self.role_steps(host, role).await;
        let ok = result.is_ok();
        locked(&tally.rows).push(Row {
            host: host.host.clone(),
            role: role.role.role.clone(),
            version: self.plan.version.clone(),
            result: if ok { "ok".into() } else { "failed".into() },
            seconds: started.elapsed().as_secs_f64(),
        });
        match result {
            Ok(b) => {
                locked(&tally.switched).push(Switched {
                    host: host.host.clone(),
                    role: role.role.role.clone(),
                    previous: b.previous_version,
                });
                Ok(())
            }
            Err(e) => {
                let msg = format!("{} failed", role.role.role);
                self.progress.finish(&host.host, false, &msg);
                Err(e)
            }
        }
    }

    /// Walk the role's boot steps on its host.
    async fn role_steps(&self, host: &HostPlan, role: &RoleSteps<'_>) -> anyhow::Result<Booted> {
        let (plan, r) = (self.plan, role.role);
        let conn = self.conn(&host.host)?;
        let step = |msg: &str| {
            let msg = format!("{}: {msg}", r.role);
            self.progress.step(&host.host, Some(&r.role), &msg)
        };
        let mut takeover: Option<Takeover> = None;
        let mut booted = Booted::default();
        for s in role.boot() {
            self.record(At::role(host, r, s));
            let started = || {
                takeover
                    .as_ref()
                    .ok_or_else(|| fail(Kind::Internal, format!("{s:?} before a start step")))
            };
            match s {
                RoleStep::StartNew => takeover = Some(boot::start_new(conn, plan, r, &step).await?),
                RoleStep::StartKept => {
                    let v = &plan.version;
                    takeover = Some(boot::start_kept(conn, plan, r, v, &step).await?)
                }
                RoleStep::ProxySwitch => {
                    boot::proxy_switch(conn, plan, r, started()?, &step).await?
                }
                RoleStep::ProxyCanary => {
                    boot::proxy_canary(conn, plan, r, started()?, &step).await?;
                    if plan.bake.is_some() {
                        locked(&self.baked).push(Baked {
                            host: host.host.clone(),
                            role: r.role.clone(),
                            prefix: r.prefix.clone(),
                            takeover: started()?.clone(),
                        });
                    }
                }
                RoleStep::WaitSteady => boot::wait_steady(conn, plan, r, started()?, &step).await?,
                RoleStep::StopPrevious if started()?.bakes => {
                    booted = boot::baking(started()?);
                    if let Some(t) = takeover.take() {
                        locked(&self.baked).push(Baked {
                            host: host.host.clone(),
                            role: r.role.clone(),
                            prefix: r.prefix.clone(),
                            takeover: t,
                        });
                    }
                }
                RoleStep::StopPrevious => {
                    booted = boot::stop_previous(conn, plan, started()?, &step).await?
                }
                RoleStep::Prune { .. } => {}
            }
        }
        Ok(booted)
    }

    async fn prune(&self, steps: &HostSteps<'_>) -> anyhow::Result<Vec<String>> {
        let host = steps.host;
        let conn = self.conn(&host.host)?;
        let (service, dest) = (&self.plan.service, self.plan.destination.as_deref());
        let mut removed = Vec::new();
        for role in &steps.roles {
            let Some(keep) = role.prune_keep() else {
                continue;
            };
            self.record(At::role(host, role.role, RoleStep::Prune { keep }));
            let r = &role.role.role;
            removed.extend(boot::prune_role(conn, service, dest, r, keep).await?);
        }
        Ok(removed)
    }
}

fn errors<T>(results: Vec<anyhow::Result<T>>) -> Vec<String> {
    results
        .into_iter()
        .filter_map(|r| r.err())
        .map(|e| format!("{e:#}"))
        .collect()
}

/// The diagnostic log's span for work on one host (and role): its events carry the host.
fn host_span(host: &str, role: Option<&str>) -> tracing::Span {
    tracing::info_span!("host", host, role)
}
