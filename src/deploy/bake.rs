//! The bake window's phase of a deploy: every role switched with one kept its old containers
//! running, unrouted, while its host's proxy judges the new ones (`proxy/src/control_bake.rs`).
//! Once every host and role has a verdict: all passed, the old containers stop; any rolled
//! back (the proxy switched back there by itself), every role this run switched goes back to
//! what served before, as after Ctrl-C, and the deploy fails with the numbers that tripped.

use super::boot;
use super::boot::Takeover;
use super::execute::{locked, Execution, Tally};
use super::host_ops::HostOps;
use crate::error::{fail, Kind};
use dhow_proxy_api::BakeStatus;
use std::time::{Duration, Instant};

/// A role switched with a bake window on one host.
pub(super) struct Baked {
    pub(super) host: String,
    pub(super) role: String,
    pub(super) prefix: String,
    pub(super) takeover: Takeover,
}

/// How often a host's verdict is asked for.
const POLL: Duration = Duration::from_secs(1);

impl<H: HostOps> Execution<'_, H> {
    /// Wait for every baked role's verdict; stop the old containers, or take everything back.
    pub(super) async fn bake_phase(&self, tally: &Tally) -> anyhow::Result<()> {
        let baked = std::mem::take(&mut *locked(&self.baked));
        if baked.is_empty() {
            return Ok(());
        }
        let verdicts = futures::future::join_all(baked.iter().map(|b| self.verdict(b))).await;
        let failed: Vec<String> = verdicts
            .into_iter()
            .filter_map(Result::err)
            .map(|e| format!("{e:#}"))
            .collect();
        if failed.is_empty() {
            for b in &baked {
                let conn = self.conn(&b.host)?;
                let step = |msg: &str| self.step(b, msg);
                boot::stop_previous(conn, self.plan, &b.takeover, &step).await?;
            }
            return Ok(());
        }
        if self.plan.canary.is_some() {
            let aborted = self.abort_canaries(&baked).await;
            return Err(fail(
                Kind::Deploy,
                format!(
                    "the canary failed its bake window: {}
{aborted}",
                    failed.join("\n")
                ),
            ));
        }
        let switched = locked(&tally.switched).clone();
        let undone = self.undo(&switched).await;
        Err(fail(
            Kind::Deploy,
            format!(
                "the new version failed its bake window: {}\n{undone}",
                failed.join("\n")
            ),
        ))
    }

    /// A canary failed on some host: every host's is aborted (where the proxy has not done
    /// it already) and its containers stop.
    async fn abort_canaries(&self, baked: &[Baked]) -> String {
        let mut notes = Vec::new();
        for b in baked {
            let Ok(conn) = self.conn(&b.host) else {
                continue;
            };
            let stopped = async {
                conn.proxy_canary_abort(&b.prefix, self.plan.drain_timeout)
                    .await?;
                for name in &b.takeover.new_names {
                    conn.stop(name, self.plan.stop_grace).await?;
                }
                Ok::<_, anyhow::Error>(())
            };
            match stopped.await {
                Ok(()) => notes.push(format!("{} {}: canary stopped", b.host, b.role)),
                Err(e) => notes.push(format!(
                    "{} {}: could not stop the canary: {e:#}",
                    b.host, b.role
                )),
            }
        }
        format!(
            "every client is on the version before it; {}",
            notes.join("; ")
        )
    }

    fn step(&self, b: &Baked, msg: &str) {
        let line = format!("{}: {msg}", b.role);
        self.progress_step(&b.host, &b.role, &line);
    }

    /// One host's verdict for one role: Ok when it passed.
    async fn verdict(&self, b: &Baked) -> anyhow::Result<()> {
        let conn = self.conn(&b.host)?;
        let window = self.plan.bake.as_ref().map_or(Duration::ZERO, |b| b.window);
        let deadline = Instant::now() + window + Duration::from_secs(60);
        loop {
            let s = conn.proxy_bake(&b.prefix).await?;
            match s.state.as_str() {
                "baking" => self.step(b, &format!("baking: {}", numbers(&s))),
                "passed" => {
                    self.step(b, &format!("bake passed: {}", numbers(&s)));
                    return Ok(());
                }
                "none" => {
                    self.step(
                        b,
                        "the proxy restarted during the bake: kept the new version",
                    );
                    return Ok(());
                }
                other => {
                    let why = s.reason.clone().unwrap_or_else(|| match other {
                        "superseded" => "another deploy replaced it".into(),
                        _ => other.to_string(),
                    });
                    return Err(fail(
                        Kind::Deploy,
                        format!("{} {}: {other}: {why}", b.host, b.role),
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(fail(
                    Kind::Remote,
                    format!("{} {}: the proxy gave no verdict", b.host, b.role),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// `312 requests, 0.3% 5xx, p99 25 ms, 80 s left`.
fn numbers(s: &BakeStatus) -> String {
    let p99 = s
        .new
        .p99_ms
        .map_or(String::new(), |ms| format!(", p99 {ms} ms"));
    let left = match s.left_ms {
        0 => String::new(),
        ms => format!(", {} s left", ms.div_ceil(1000)),
    };
    format!(
        "{} requests, {:.1}% 5xx{p99}{left}",
        s.new.requests,
        s.new.error_rate * 100.0
    )
}
