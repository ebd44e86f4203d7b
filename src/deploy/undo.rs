//! Undoing a run after Ctrl-C or a failed bake window: every role this run switched goes
//! back to the container that served before, with the same steps as a rollback (a canary
//! switched nothing: it is left for `dhow rollout abort`).

use super::boot;
use super::execute::{Execution, Switched};
use super::host_ops::HostOps;

impl<H: HostOps> Execution<'_, H> {
    /// After Ctrl-C: switch roles changed in this run back to what served before (a canary
    /// switched nothing: it is left for `dhow rollout abort`).
    pub(super) async fn undo(&self, switched: &[Switched]) -> String {
        if self.plan.canary.is_some() {
            let on = switched.iter().map(|s| format!("{} {}", s.host, s.role));
            return boot::interrupted_canary(&on.collect::<Vec<_>>());
        }
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
            let step = |msg: &str| self.progress_step(&s.host, &s.role, &format!("undo: {msg}"));
            match boot::boot_kept(conn, self.plan, role, prev, &step).await {
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
