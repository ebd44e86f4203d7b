//! Replacing a running proxy process with another (a new build, new settings) without a
//! refused connection or a failed request. Both take their listening sockets from the port
//! holder (`ports_holder.rs`). The replacement starts standing by on its own control socket,
//! restores the routes from the state file and health-checks them, and accepts from the shared
//! sockets; then the CLI asks the old process to hand over (`POST /v1/handover`: it stops
//! accepting, refuses route changes and lets each connection end as `drain.rs` says) and the
//! replacement to take over (`POST /v1/promote`: it re-reads the state file, in case routes
//! changed after it started, moves its control socket to the usual path and starts its
//! certificate renewals).

use crate::proxy::Proxy;
use hyper::StatusCode;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// What one proxy process needs to hand over or take over.
pub struct Lifecycle {
    shutdown: watch::Sender<bool>,
    /// How long idle connections wait for a last request after a handover.
    handover_linger: Duration,
    /// While standing by: (this process's control socket, the one it takes when promoted).
    takeover: Mutex<Option<(PathBuf, PathBuf)>>,
    promoted: watch::Sender<bool>,
}

impl Lifecycle {
    pub fn new(
        shutdown: watch::Sender<bool>,
        handover_linger: Duration,
        takeover: Option<(PathBuf, PathBuf)>,
    ) -> Lifecycle {
        let standby = takeover.is_some();
        Lifecycle {
            shutdown,
            handover_linger,
            takeover: Mutex::new(takeover),
            promoted: watch::channel(!standby).0,
        }
    }

    /// Resolves once this process owns the state (at once unless it started standing by).
    pub async fn owner(&self) {
        let mut rx = self.promoted.subscribe();
        let _ = rx.wait_for(|p| *p).await;
    }

    /// Stop accepting and let connections end (see `drain.rs`); route changes are refused.
    pub fn hand_over(&self, proxy: &Proxy) -> serde_json::Value {
        proxy.drain.hand_over(self.handover_linger);
        let _ = self.shutdown.send(true);
        tracing::info!(
            linger_ms = self.handover_linger.as_millis() as u64,
            "handing over to a new proxy process: no longer accepting; keep-alive connections \
             close after their next answer"
        );
        serde_json::json!({ "handed_over": true })
    }

    /// Take over from the process that handed over: its latest routes (`reload`: load the
    /// state file again, true when it changed), then its socket path.
    pub fn promote(
        &self,
        reload: impl FnOnce() -> bool,
    ) -> Result<serde_json::Value, (StatusCode, String)> {
        let taken = self
            .takeover
            .lock()
            .map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "lock poisoned".to_string(),
                )
            })?
            .take();
        let Some((mine, usual)) = taken else {
            return Ok(serde_json::json!({ "promoted": true, "reloaded": false }));
        };
        let reloaded = reload();
        std::fs::rename(&mine, &usual).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "cannot move the control socket {} to {}: {e}",
                    mine.display(),
                    usual.display()
                ),
            )
        })?;
        let _ = self.promoted.send(true);
        tracing::info!(reloaded, "took over: control socket {}", usual.display());
        Ok(serde_json::json!({ "promoted": true, "reloaded": reloaded }))
    }
}
