//! A deploy's bake window: after the switch the old targets stay (unrouted, not drained) and
//! a task reads the service's counters every quarter second. Past a limit (5xx rate or p99,
//! over enough requests, and worse than the old targets did while they served), it checks
//! the old targets' health and switches back by itself, then drains the new ones; when the
//! window ends within bounds, it drains the old ones. Another deploy (or a removal) first
//! ends it as `superseded`. Its outcome stays readable (`GET .../bake`) until the next one.
//! The window is not saved: a proxy restarted during it keeps the new targets. A canary's
//! window (`bake_canary`) compares the canary's side with the stable side and, past a
//! limit, aborts the canary.

use crate::control::Control;
use crate::router::Service;
use crate::stats::{error_rate, Counts};
use crate::upstream::Upstream;
use dhow_proxy_api::{BakeSpec, BakeStatus, DeployAnswer, HealthSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the bake task needs of the deploy that started it.
pub struct Baking {
    pub name: String,
    pub spec: BakeSpec,
    pub health: HealthSpec,
    /// The targets serving before, kept alive.
    pub old: Vec<Arc<Upstream>>,
    /// The new targets' addresses (a service routing others was deployed again).
    pub new_addrs: Vec<String>,
    /// The old targets' requests while they served; the counters at the switch.
    pub old_counts: Counts,
    pub at_switch: Counts,
    pub drain: Duration,
}

const TICK: Duration = Duration::from_millis(250);

impl Control {
    /// The counters of `name` since its targets last changed (its current version's
    /// numbers), and the reading taken now for the next switch.
    pub fn version_counts(&self, name: &str, now: Counts) -> Counts {
        let mut at = self.switched_at.lock().unwrap_or_else(|p| p.into_inner());
        let since = at.insert(name.to_string(), now).unwrap_or_default();
        now.since(&since)
    }

    /// Start judging the new targets (the old ones stay until it ends); the deploy's answer.
    pub fn start_bake(
        self: &Arc<Self>,
        name: &str,
        req: dhow_proxy_api::DeployRequest,
        old: Vec<Arc<Upstream>>,
        new_addrs: Vec<String>,
        (old_counts, at_switch): (Counts, Counts),
        drain: Duration,
    ) -> DeployAnswer {
        let b = Baking {
            name: name.to_string(),
            spec: req.bake.clone().unwrap_or(BakeSpec {
                window_ms: 0,
                max_error_rate: 1.0,
                max_p99_ms: None,
                min_requests: 1,
            }),
            health: req.health.clone(),
            old,
            new_addrs,
            old_counts,
            at_switch,
            drain,
        };
        let several = |a: Vec<String>| if a.len() > 1 { a } else { Vec::new() };
        let answer = DeployAnswer {
            acme: None,
            baking_ms: Some(b.spec.window_ms),
            previous: b.old.first().map(|t| t.addr.clone()),
            previous_targets: several(addrs(&b.old)),
            service: b.name.clone(),
            target: req.target,
            targets: several(b.new_addrs.clone()),
            unfinished_after_drain: 0,
        };
        self.set_bake(
            &b.name,
            BakeStatus {
                left_ms: b.spec.window_ms,
                old: b.old_counts.version_stats("old", ""),
                state: "baking".into(),
                ..Default::default()
            },
        );
        tokio::spawn(self.clone().bake(b));
        answer
    }

    /// The last bake of `name`.
    pub fn bake_status(&self, name: &str) -> BakeStatus {
        let bakes = self.bakes.lock().unwrap_or_else(|p| p.into_inner());
        bakes.get(name).cloned().unwrap_or_else(|| BakeStatus {
            state: "none".into(),
            ..Default::default()
        })
    }

    fn set_bake(&self, name: &str, status: BakeStatus) {
        let mut bakes = self.bakes.lock().unwrap_or_else(|p| p.into_inner());
        bakes.insert(name.to_string(), status);
    }

    /// Judge the new targets until the window ends (spawned by `deploy`).
    pub async fn bake(self: Arc<Self>, b: Baking) {
        let deadline = Instant::now() + Duration::from_millis(b.spec.window_ms);
        let old = b.old_counts.version_stats("old", "");
        loop {
            let table = self.proxy.table.load_full();
            let Some(s) = table
                .get(&b.name)
                .filter(|s| addrs(s.targets()) == b.new_addrs)
            else {
                for t in &b.old {
                    t.retire();
                }
                return self.decided(&b, "superseded", None, Counts::default());
            };
            let new = s.stats.counts().since(&b.at_switch);
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(reason) = tripped(&new, &b.old_counts, &b.spec) {
                return self.switch_back(&b, s.clone(), new, reason).await;
            }
            if left.is_zero() {
                crate::replicas::drain_replaced(&b.old, &b.new_addrs, b.drain).await;
                return self.decided(&b, "passed", None, new);
            }
            self.set_bake(
                &b.name,
                BakeStatus {
                    left_ms: left.as_millis() as u64,
                    new: new.version_stats("new", ""),
                    old: old.clone(),
                    reason: None,
                    state: "baking".into(),
                },
            );
            tokio::time::sleep(TICK.min(left)).await;
        }
    }

    /// Judge a canary of `version` against the stable side until the window ends; past a
    /// limit, abort it (every client back on the stable side, the canary drained).
    pub async fn bake_canary(self: Arc<Self>, name: String, version: String, spec: BakeSpec) {
        let deadline = Instant::now() + Duration::from_millis(spec.window_ms);
        loop {
            let table = self.proxy.table.load_full();
            let Some(c) = table
                .get(&name)
                .and_then(|s| s.canary.clone())
                .filter(|c| c.version == version)
            else {
                return self.set_bake(&name, canary_status("superseded", None, None));
            };
            let (new, old) = (c.stats.counts(), c.stable_stats.counts());
            let left = deadline.saturating_duration_since(Instant::now());
            let numbers = Some((&new, &old));
            if let Some(reason) = tripped(&new, &old, &spec) {
                tracing::warn!(service = %name, %reason, "bake: aborting the canary");
                let drain = dhow_proxy_api::CanaryAbort::default();
                let state = match self.canary_abort(&name, drain).await {
                    Ok(_) => "rolled_back",
                    Err(_) => "failed",
                };
                return self.set_bake(&name, canary_status(state, Some(reason), numbers));
            }
            if left.is_zero() {
                return self.set_bake(&name, canary_status("passed", None, numbers));
            }
            let mut status = canary_status("baking", None, numbers);
            status.left_ms = left.as_millis() as u64;
            self.set_bake(&name, status);
            tokio::time::sleep(TICK.min(left)).await;
        }
    }

    /// Past a limit: the old targets serve again (when they answer their health check), the
    /// new ones drain.
    async fn switch_back(&self, b: &Baking, baked: Service, new: Counts, reason: String) {
        let old_addrs = addrs(&b.old);
        let check = Duration::from_millis(b.health.timeout_ms.max(1000));
        if let Err(e) =
            crate::health::wait_all_healthy(&self.proxy.client, &old_addrs, &b.health, check).await
        {
            let why = format!("{reason}; the previous targets do not answer ({e}): kept the new");
            return self.decided(b, "failed", Some(why), new);
        }
        let back = {
            let _w = self.writer.lock().await;
            let table = self.proxy.table.load_full();
            if table.get(&b.name).map(|s| addrs(s.targets())) != Some(b.new_addrs.clone()) {
                return self.decided(b, "superseded", None, new);
            }
            for t in &b.old {
                t.mark_ready();
                t.set_down(false);
            }
            let mut service = baked.clone();
            service.target = b.old[0].clone();
            service.replicas =
                (b.old.len() > 1).then(|| Arc::new(crate::replicas::Replicas::new(b.old.clone())));
            if let Err((_, e)) = self.save_and_publish(table.with(service.clone())) {
                let why = format!("{reason}; switching back failed: {e}");
                return self.decided(b, "failed", Some(why), new);
            }
            self.watch(&service);
            self.version_counts(&b.name, baked.stats.counts());
            baked
        };
        tracing::warn!(service = %b.name, %reason, "bake: switched back to the previous targets");
        self.proxy
            .metrics
            .deploys_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::replicas::drain_replaced(back.targets(), &old_addrs, b.drain).await;
        self.decided(b, "rolled_back", Some(reason), new);
    }

    fn decided(&self, b: &Baking, state: &str, reason: Option<String>, new: Counts) {
        self.set_bake(
            &b.name,
            BakeStatus {
                left_ms: 0,
                new: new.version_stats("new", ""),
                old: b.old_counts.version_stats("old", ""),
                reason,
                state: state.into(),
            },
        );
    }
}

/// A canary's bake status: its side as `new`, the stable side as `old`.
fn canary_status(state: &str, reason: Option<String>, c: Option<(&Counts, &Counts)>) -> BakeStatus {
    let none = Counts::default();
    let (new, old) = c.unwrap_or((&none, &none));
    BakeStatus {
        left_ms: 0,
        new: new.version_stats("canary", ""),
        old: old.version_stats("stable", ""),
        reason,
        state: state.into(),
    }
}

fn addrs(targets: &[Arc<Upstream>]) -> Vec<String> {
    targets.iter().map(|t| t.addr.clone()).collect()
}

/// Why the new targets fail their bake, if they do: over enough requests, past a limit and
/// worse than the old targets were.
pub fn tripped(new: &Counts, old: &Counts, spec: &BakeSpec) -> Option<String> {
    let (requests, errors, p99) = new.summary();
    if requests < spec.min_requests.max(1) {
        return None;
    }
    let (old_requests, old_errors, old_p99) = old.summary();
    let (now, before) = (
        error_rate(errors, requests),
        error_rate(old_errors, old_requests),
    );
    if now > spec.max_error_rate && now > before {
        return Some(format!(
            "5xx rate {:.1}% ({errors} of {requests} requests) is over the limit of {:.1}% \
             (the previous version: {:.1}% of {old_requests})",
            now * 100.0,
            spec.max_error_rate * 100.0,
            before * 100.0
        ));
    }
    let (Some(max), Some(p99)) = (spec.max_p99_ms, p99) else {
        return None;
    };
    let (ms, old_ms) = (p99 * 1000.0, old_p99.map_or(0.0, |s| s * 1000.0));
    (ms > max as f64 && ms > old_ms).then(|| {
        format!(
            "p99 {ms} ms over {requests} requests is over the limit of {max} ms (the \
             previous version: {old_ms} ms)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;

    fn counts(ok: u64, failed: u64, ms: u64) -> Counts {
        let s = Stats::new();
        for i in 0..ok + failed {
            let status = if i < failed { 500 } else { 200 };
            s.observe(status, Duration::from_millis(ms));
        }
        s.counts()
    }

    #[test]
    fn a_failing_or_slow_version_trips_over_enough_requests_and_only_if_worse() {
        let spec = BakeSpec {
            window_ms: 1000,
            max_error_rate: 0.05,
            max_p99_ms: Some(100),
            min_requests: 20,
        };
        let healthy = counts(1000, 0, 3);
        let why = tripped(&counts(70, 30, 3), &healthy, &spec).unwrap();
        assert!(why.contains("5xx rate 30.0% (30 of 100 requests)"), "{why}");
        assert_eq!(tripped(&counts(7, 3, 3), &healthy, &spec), None, "too few");
        assert_eq!(
            tripped(&counts(70, 30, 3), &counts(60, 40, 3), &spec),
            None,
            "not worse"
        );
        let why = tripped(&counts(100, 0, 400), &healthy, &spec).unwrap();
        assert!(why.contains("p99 500 ms"), "{why}");
        assert_eq!(tripped(&counts(100, 2, 3), &healthy, &spec), None);
    }
}
