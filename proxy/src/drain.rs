//! How client connections end when the proxy stops (SIGTERM) or hands over to a new proxy
//! process (`POST /v1/handover`). A connection is never closed under a request that may be on
//! its way: after the stop, each connection keeps reading for its linger time; a request that
//! arrives is answered with `Connection: close` (HTTP/1.1) and the connection then closes, and
//! one that stays idle for the whole linger closes then. HTTP/2 connections get GOAWAY at once
//! (their clients open a new connection for new requests; streams in flight finish).
//!
//! The linger is short for SIGTERM (`--shutdown-linger`, the process must exit for Docker to
//! restart it) and the header timeout for a handover (the new process is already serving, so
//! the old one can wait for every keep-alive client's next request).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// When lingering connections close, once a stop began.
#[derive(Debug)]
pub struct Drain {
    /// Milliseconds after `base` at which lingering ends (0: no stop yet).
    end_ms: AtomicU64,
    base: Instant,
    /// Stopped for a handover: state and certificates are the new process's now.
    handed_over: AtomicBool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            end_ms: AtomicU64::new(0),
            base: Instant::now(),
            handed_over: AtomicBool::new(false),
        }
    }
}

impl Drain {
    /// Begin a stop whose idle connections linger for `linger` (the first stop decides).
    pub fn begin(&self, linger: Duration) {
        let end = self.base.elapsed() + linger;
        let ms = (end.as_millis() as u64).max(1);
        let _ = self
            .end_ms
            .compare_exchange(0, ms, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Begin a handover: like `begin`, and no more state writes from this process.
    pub fn hand_over(&self, linger: Duration) {
        self.handed_over.store(true, Ordering::SeqCst);
        self.begin(linger);
    }

    pub fn handed_over(&self) -> bool {
        self.handed_over.load(Ordering::SeqCst)
    }

    /// Has a stop begun? (Responses then say `Connection: close`.)
    pub fn stopping(&self) -> bool {
        self.end_ms.load(Ordering::Relaxed) != 0
    }

    /// When idle connections close, once a stop began.
    pub fn linger_end(&self) -> Option<Instant> {
        match self.end_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.base + Duration::from_millis(ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Drain;
    use std::time::Duration;

    #[test]
    fn the_first_stop_sets_the_linger_and_a_handover_also_stops_state_writes() {
        let d = Drain::default();
        assert!(!d.stopping() && d.linger_end().is_none());
        d.begin(Duration::from_secs(1));
        let end = d.linger_end().expect("end");
        d.begin(Duration::from_secs(60));
        assert_eq!(d.linger_end(), Some(end));
        assert!(d.stopping() && !d.handed_over());
        let h = Drain::default();
        h.hand_over(Duration::from_secs(30));
        assert!(h.handed_over() && h.stopping());
    }
}
