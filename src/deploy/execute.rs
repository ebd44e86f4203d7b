//! Executing a plan across hosts: prepare every host (network, proxy, image) before anything
//! switches, then boot the primary role and afterwards the other roles, `boot.limit` hosts at
//! a time with `boot.wait` between groups, then prune and audit.
//!
//! Failure policy: a host that fails stops the run after its group finishes; hosts already
//! switched keep the new version (running the command again converges them), all others keep
//! the old one. On Ctrl-C, roles switched during this run are switched back to the container
//! that served before, so the old version serves everywhere.

use super::boot::{self, Booted};
use super::plan::{HostPlan, Plan, RolePlan};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::progress::{Progress, Row};
use crate::proxy::on_host as proxy;
use futures::future::{join_all, BoxFuture};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::watch;

/// What is being executed.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Build-delivered new version, with network/proxy setup.
    Deploy,
    /// Like Deploy, without network/proxy setup.
    Redeploy,
    /// Switch back to a retained version's containers.
    Rollback(String),
}

/// Host-level operation supplied by the caller (image and proxy delivery).
pub type HostOp<'a> =
    &'a (dyn Fn(HostConn) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync);

/// Everything execution needs.
pub struct Execution<'a> {
    pub plan: &'a Plan,
    pub mode: Mode,
    pub hosts: &'a HashMap<String, HostConn>,
    pub progress: &'a Progress,
    pub deliver_app: HostOp<'a>,
    pub load_proxy: HostOp<'a>,
    pub proxy_boot: crate::proxy::on_host::BootOptions,
    pub cancel: watch::Receiver<bool>,
}

/// A role switched during this run (for rollback on Ctrl-C).
#[derive(Debug, Clone)]
struct Switched {
    host: String,
    role: String,
    previous: Option<String>,
}

impl Execution<'_> {
    fn conn(&self, host: &str) -> anyhow::Result<&HostConn> {
        self.hosts
            .get(host)
            .ok_or_else(|| fail(Kind::Internal, format!("no connection to {host}")))
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Run the plan. Returns the summary rows and the overall result.
    pub async fn run(&self) -> (Vec<Row>, anyhow::Result<()>) {
        let rows = Mutex::new(Vec::new());
        let switched = Mutex::new(Vec::new());
        let result = self.phases(&rows, &switched).await;
        // Interrupted: whatever finished meanwhile goes back to what served before.
        let result = if self.cancelled() {
            let to_undo = switched.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let undone = self.undo(&to_undo).await;
            let cause = result.err().map(|e| format!(": {e:#}")).unwrap_or_default();
            Err(fail(
                Kind::Deploy,
                format!("interrupted (Ctrl-C){cause}\n{undone}"),
            ))
        } else {
            result
        };
        let rows = rows.into_inner().unwrap_or_else(|p| p.into_inner());
        (rows, result)
    }

    async fn phases(
        &self,
        rows: &Mutex<Vec<Row>>,
        switched: &Mutex<Vec<Switched>>,
    ) -> anyhow::Result<()> {
        // Phase 0: every host ready before anything switches.
        let prepared = join_all(self.plan.hosts.iter().map(|h| self.prepare(h))).await;
        let failures: Vec<String> = prepared
            .into_iter()
            .filter_map(|r| r.err())
            .map(|e| format!("{e:#}"))
            .collect();
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
            for (i, group) in self.plan.groups().into_iter().enumerate() {
                let work: Vec<_> = group
                    .iter()
                    .flat_map(|h| {
                        h.roles
                            .iter()
                            .filter(|r| r.primary == primary)
                            .map(move |r| (*h, r))
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
                let results = join_all(
                    work.iter()
                        .map(|(h, r)| self.boot_role(h, r, rows, switched)),
                )
                .await;
                let failures: Vec<String> = results
                    .into_iter()
                    .filter_map(|r| r.err())
                    .map(|e| format!("{e:#}"))
                    .collect();
                if !failures.is_empty() {
                    return Err(fail(Kind::Deploy, failures.join("\n")));
                }
            }
        }
        // Phase 3: prune old containers (best effort, reported).
        let pruned = join_all(self.plan.hosts.iter().map(|h| self.prune(h))).await;
        for (h, r) in self.plan.hosts.iter().zip(pruned) {
            match r {
                Ok(removed) if !removed.is_empty() => {
                    self.progress
                        .step(&h.host, None, &format!("pruned {}", removed.join(", ")))
                }
                Ok(_) => {}
                Err(e) => self.progress.println(&format!(
                    "warning: {}: pruning old containers failed: {e:#}",
                    h.host
                )),
            }
            self.progress.finish(&h.host, true, &self.plan.version);
        }
        Ok(())
    }

    async fn prepare(&self, host: &HostPlan) -> anyhow::Result<()> {
        let conn = self.conn(&host.host)?;
        let result = async {
            if self.mode == Mode::Deploy && host.needs_proxy() {
                self.progress
                    .step(&host.host, None, "ensuring network and proxy");
                let load = self.load_proxy;
                let c = conn.clone();
                let ensured = proxy::ensure(conn, &self.proxy_boot, move || load(c)).await?;
                if ensured != proxy::Ensured::AlreadyRunning {
                    self.progress.step(
                        &host.host,
                        None,
                        &format!("proxy {ensured:?}").to_lowercase(),
                    );
                }
            } else if self.mode == Mode::Deploy {
                crate::docker::network::ensure(&conn.docker).await?;
            }
            if !matches!(self.mode, Mode::Rollback(_)) {
                self.progress.step(&host.host, None, "delivering the image");
                (self.deliver_app)(conn.clone()).await?;
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

    async fn boot_role(
        &self,
        host: &HostPlan,
        role: &RolePlan,
        rows: &Mutex<Vec<Row>>,
        switched: &Mutex<Vec<Switched>>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let conn = self.conn(&host.host)?;
        let step = |msg: &str| {
            self.progress.step(
                &host.host,
                Some(&role.role),
                &format!("{}: {msg}", role.role),
            )
        };
        let result: anyhow::Result<Booted> = async {
            if !matches!(self.mode, Mode::Rollback(_)) {
                super::envfile::write(conn.shell.as_ref(), &self.plan.lock_key, &role.container)
                    .await?;
            }
            match &self.mode {
                Mode::Rollback(v) => boot::boot_existing(conn, self.plan, role, v, &step).await,
                _ => boot::boot_new(conn, self.plan, role, &step).await,
            }
        }
        .await;
        let ok = result.is_ok();
        rows.lock().unwrap_or_else(|p| p.into_inner()).push(Row {
            host: host.host.clone(),
            role: role.role.clone(),
            version: self.plan.version.clone(),
            result: if ok { "ok".into() } else { "failed".into() },
            seconds: started.elapsed().as_secs_f64(),
        });
        match result {
            Ok(b) => {
                switched
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Switched {
                        host: host.host.clone(),
                        role: role.role.clone(),
                        previous: b.previous_version,
                    });
                Ok(())
            }
            Err(e) => {
                self.progress
                    .finish(&host.host, false, &format!("{} failed", role.role));
                Err(e)
            }
        }
    }

    async fn prune(&self, host: &HostPlan) -> anyhow::Result<Vec<String>> {
        let conn = self.conn(&host.host)?;
        let mut removed = Vec::new();
        for role in &host.roles {
            removed.extend(boot::prune_role(conn, self.plan, &role.role).await?);
        }
        Ok(removed)
    }

    /// After Ctrl-C: switch roles changed in this run back to what served before.
    async fn undo(&self, switched: &[Switched]) -> String {
        let mut notes = Vec::new();
        for s in switched {
            let Some(prev) = &s.previous else {
                notes.push(format!(
                    "{} {}: no previous version to go back to",
                    s.host, s.role
                ));
                continue;
            };
            let Some(hp) = self.plan.hosts.iter().find(|h| h.host == s.host) else {
                continue;
            };
            let Some(role) = hp.roles.iter().find(|r| r.role == s.role) else {
                continue;
            };
            let Ok(conn) = self.conn(&s.host) else {
                continue;
            };
            let step = |msg: &str| {
                self.progress
                    .step(&s.host, Some(&s.role), &format!("undo: {msg}"))
            };
            match boot::boot_existing(conn, self.plan, role, prev, &step).await {
                Ok(_) => notes.push(format!("{} {}: back on {prev}", s.host, s.role)),
                Err(e) => notes.push(format!(
                    "{} {}: could not go back to {prev}: {e:#}",
                    s.host, s.role
                )),
            }
        }
        if notes.is_empty() {
            "interrupted before any host switched; the old version serves everywhere".into()
        } else {
            format!("interrupted; switched back: {}", notes.join("; "))
        }
    }
}
