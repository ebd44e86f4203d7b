//! The control plane's canary rollouts: start one beside a service's targets (health-checked
//! first, like a deploy), change its share, abort it (its targets drained), and each side's
//! counters (`stats`). Finishing is a deploy to the canary's targets (`control.rs`), which
//! any other deploy is refused while a canary runs. Every change is saved before it routes.

use crate::canary::Canary;
use crate::control::Control;
use crate::health;
use crate::router::Service;
use crate::stats::Stats;
use dhow_proxy_api::{
    basis_points, CanaryAbort, CanaryRequest, CanaryShare, Endpoint, StatsAnswer,
    DEFAULT_CANARY_COOKIE, DEFAULT_CANARY_HEADER,
};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

type Failed = (StatusCode, String);

impl Control {
    /// Health-check the canary's targets, then send its share of clients to them.
    pub async fn canary_start(
        self: &Arc<Self>,
        name: &str,
        req: CanaryRequest,
    ) -> Result<Value, Failed> {
        let bad = |m: String| (StatusCode::BAD_REQUEST, m);
        let basis = basis_points(req.percent).map_err(bad)?;
        if req.targets.is_empty() || req.targets.iter().any(String::is_empty) {
            return Err(bad("targets: one HOST:PORT or more".into()));
        }
        if req.version.is_empty() {
            return Err(bad("version: the canary's version is required".into()));
        }
        let cookie = req.cookie.clone().unwrap_or(DEFAULT_CANARY_COOKIE.into());
        if cookie.is_empty()
            || !cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(bad(format!(
                "cookie {cookie:?}: letters, digits, _ - . only"
            )));
        }
        let header = req
            .header
            .clone()
            .unwrap_or(DEFAULT_CANARY_HEADER.into())
            .to_ascii_lowercase();
        if hyper::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(bad(format!("header {header:?} is not a header name")));
        }
        self.startable(name, &req)?;
        let deadline = Duration::from_millis(req.deploy_timeout_ms);
        if let Err(e) =
            health::wait_all_healthy(&self.proxy.client, &req.targets, &req.health, deadline).await
        {
            return Err((
                StatusCode::GATEWAY_TIMEOUT,
                format!("{e}; no client was sent to the canary"),
            ));
        }
        let (target, replicas) = Service::targets_for(&req.targets, true);
        let (entry, replaced) = {
            let _w = self.writer.lock().await;
            let table = self.proxy.table.load_full();
            let service = self.startable(name, &req)?;
            let before = service.canary.clone();
            let canary = Canary {
                version: req.version.clone(),
                stable_version: req.stable_version.clone(),
                basis,
                cookie,
                header,
                allow: req.allow.clone(),
                target,
                replicas,
                stats: before.as_ref().map_or_else(Stats::new, |c| c.stats.clone()),
                stable_stats: before
                    .as_ref()
                    .map_or_else(Stats::new, |c| c.stable_stats.clone()),
            };
            let mut next = service.clone();
            next.canary = Some(Arc::new(canary));
            self.save_and_publish(table.with(next.clone()))?;
            self.watch_canary(&next);
            (next.canary.as_ref().map(|c| c.entry()), before)
        };
        if let Some(old) = replaced {
            let drain = Duration::from_millis(dhow_proxy_api::DEFAULT_DRAIN_TIMEOUT_MS);
            crate::replicas::drain_replaced(old.targets(), &req.targets, drain).await;
        }
        if let Some(spec) = req.bake.clone() {
            tokio::spawn(
                self.clone()
                    .bake_canary(name.to_string(), req.version.clone(), spec),
            );
        }
        Ok(json!({ "service": name, "canary": entry }))
    }

    /// While a canary runs, the only deploy is the one finishing it (to exactly its targets).
    pub(crate) fn canary_allows(
        &self,
        name: &str,
        addrs: &[String],
    ) -> Result<(), (StatusCode, String)> {
        let table = self.proxy.table.load();
        let Some(c) = table.get(name).and_then(|s| s.canary.as_ref()) else {
            return Ok(());
        };
        let (mut mine, mut theirs) = (addrs.to_vec(), c.addrs());
        mine.sort();
        theirs.sort();
        match mine == theirs {
            true => Ok(()),
            false => Err((StatusCode::CONFLICT, running(name, c))),
        }
    }

    /// Finishing a canary: its targets are the service's now (new entries, checked), so the
    /// old entries' checks end.
    pub fn retire_finished_canary(&self, old: Option<&Service>) {
        for t in old
            .and_then(|s| s.canary.as_ref())
            .map_or(&[][..], |c| c.targets())
        {
            t.retire();
        }
    }

    /// The service a canary may start on: it exists, its canary (if any) is of the same
    /// version, and the canary's targets are not its own.
    fn startable(&self, name: &str, req: &CanaryRequest) -> Result<Service, Failed> {
        let table = self.proxy.table.load();
        let Some(s) = table.get(name) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no service {name}: a canary needs a service already deployed"),
            ));
        };
        if let Some(c) = &s.canary {
            if c.version != req.version {
                return Err((StatusCode::CONFLICT, running(name, c)));
            }
        }
        if let Some(t) = s.targets().iter().find(|t| req.targets.contains(&t.addr)) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "{} already serves {name}: a canary needs other targets",
                    t.addr
                ),
            ));
        }
        Ok(s.clone())
    }

    /// A new share for the running canary.
    pub async fn canary_share(&self, name: &str, share: CanaryShare) -> Result<Value, Failed> {
        let basis = basis_points(share.percent).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let _w = self.writer.lock().await;
        let table = self.proxy.table.load_full();
        let (service, canary) = with_canary(&table, name)?;
        let mut next = service.clone();
        next.canary = Some(Arc::new(canary.with_basis(basis)));
        let entry = next.canary.as_ref().map(|c| c.entry());
        self.save_and_publish(table.with(next))?;
        Ok(json!({ "service": name, "canary": entry }))
    }

    /// Every client back on the stable targets; the canary's drained. Without a canary there
    /// is nothing to do (`aborted: false`), so the CLI can run it again after a failure.
    pub async fn canary_abort(&self, name: &str, abort: CanaryAbort) -> Result<Value, Failed> {
        let canary = {
            let _w = self.writer.lock().await;
            let table = self.proxy.table.load_full();
            let Some(service) = table.get(name) else {
                return Err((StatusCode::NOT_FOUND, format!("no service {name}")));
            };
            let Some(canary) = service.canary.clone() else {
                return Ok(json!({ "service": name, "aborted": false }));
            };
            let mut next = service.clone();
            next.canary = None;
            self.save_and_publish(table.with(next))?;
            canary
        };
        let drain = Duration::from_millis(abort.drain_timeout_ms);
        let left = crate::replicas::drain_replaced(canary.targets(), &[], drain).await;
        Ok(json!({
            "service": name,
            "aborted": true,
            "version": canary.version,
            "targets": canary.addrs(),
            "unfinished_after_drain": left,
        }))
    }

    /// The service's counters, and each side's with a canary.
    pub fn stats(&self, name: &str) -> Result<StatsAnswer, Failed> {
        let table = self.proxy.table.load();
        let Some(s) = table.get(name) else {
            return Err((StatusCode::NOT_FOUND, format!("no service {name}")));
        };
        let versions = match &s.canary {
            Some(c) => vec![
                c.stable_stats
                    .counts()
                    .version_stats("stable", &c.stable_version),
                c.stats.counts().version_stats("canary", &c.version),
            ],
            None => Vec::new(),
        };
        Ok(StatsAnswer {
            canary: s.canary.as_ref().map(|c| c.entry()),
            service: name.to_string(),
            total: s.stats.counts().version_stats("all", ""),
            versions,
        })
    }

    /// Health-check a canary's targets while it runs (restored ones: until they answer; with
    /// several, the active watch).
    pub fn watch_canary(&self, s: &Service) {
        let Some(c) = &s.canary else { return };
        match &c.replicas {
            Some(r) => {
                let weak = Arc::downgrade(r);
                tokio::spawn(health::watch(
                    self.proxy.client.clone(),
                    weak,
                    s.health.clone(),
                ));
            }
            None if !c.target.is_ready() => {
                let client = self.proxy.client.clone();
                tokio::spawn(health::until_ready(
                    client,
                    c.target.clone(),
                    s.health.clone(),
                ));
            }
            None => {}
        }
    }
}

/// The service and its running canary, or why not.
fn with_canary<'t>(
    table: &'t crate::router::Table,
    name: &str,
) -> Result<(&'t Service, &'t Arc<Canary>), Failed> {
    let Some(s) = table.get(name) else {
        return Err((StatusCode::NOT_FOUND, format!("no service {name}")));
    };
    match &s.canary {
        Some(c) => Ok((s, c)),
        None => Err((
            StatusCode::NOT_FOUND,
            format!("no canary runs for {name}: start one with `dhow deploy --canary PERCENT`"),
        )),
    }
}

/// Why a deploy or another canary is refused while `c` runs.
pub fn running(name: &str, c: &Canary) -> String {
    format!(
        "service {name} has a canary of version {} at {}% beside {}: `dhow rollout finish` or \
         `dhow rollout abort` it first",
        c.version,
        f64::from(c.basis) / 100.0,
        if c.stable_version.is_empty() {
            "the current version"
        } else {
            &c.stable_version
        }
    )
}

impl Control {
    /// The canary endpoints' part of the control router: None for other endpoints.
    pub async fn canary_route(
        self: &Arc<Self>,
        endpoint: Endpoint<'_>,
        body: &[u8],
    ) -> Option<Result<Value, Failed>> {
        fn read<T: serde::de::DeserializeOwned>(b: &[u8], what: &str) -> Result<T, Failed> {
            let b = if b.is_empty() { &b"{}"[..] } else { b };
            serde_json::from_slice(b)
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad {what}: {e}")))
        }
        Some(match endpoint {
            Endpoint::CanaryStart(name) => match read(body, "canary request") {
                Ok(r) => self.canary_start(name, r).await,
                Err(e) => Err(e),
            },
            Endpoint::CanaryShare(name) => match read(body, "canary share") {
                Ok(r) => self.canary_share(name, r).await,
                Err(e) => Err(e),
            },
            Endpoint::CanaryAbort(name) => match read(body, "canary abort") {
                Ok(r) => self.canary_abort(name, r).await,
                Err(e) => Err(e),
            },
            Endpoint::Stats(name) => self.stats(name).and_then(|a| {
                serde_json::to_value(a)
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
            }),
            _ => return None,
        })
    }
}
