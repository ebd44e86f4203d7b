//! One upstream: a service's target (`host:port`, the app container the proxy forwards to)
//! with its in-flight request count, its readiness (restored targets are health-checked
//! before they get traffic), the drain that waits for its requests, and the signal that closes
//! upgraded connections to it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// A backend (`host:port`) with its in-flight request count.
#[derive(Debug)]
pub struct Upstream {
    pub addr: String,
    /// `addr` parsed once for request URIs (None: not a valid host:port).
    pub authority: Option<hyper::http::uri::Authority>,
    inflight: AtomicUsize,
    idle: Notify,
    ready: AtomicBool,
    /// Taken out of a service's balancing: its connections were refused or reset, or its
    /// active health check failed (only services with several targets set it).
    down: AtomicBool,
    /// No longer part of any service (drained or removed): its health watch ends.
    retired: AtomicBool,
    ready_tx: watch::Sender<bool>,
    /// Flips to true when upgraded connections (WebSockets) to this target must close.
    closing: watch::Sender<bool>,
}

impl Upstream {
    pub fn new(addr: impl Into<String>, ready: bool) -> Arc<Upstream> {
        let (ready_tx, _) = watch::channel(ready);
        let (closing, _) = watch::channel(false);
        let addr: String = addr.into();
        Arc::new(Upstream {
            authority: addr.parse().ok(),
            addr,
            inflight: AtomicUsize::new(0),
            idle: Notify::new(),
            ready: AtomicBool::new(ready),
            down: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            ready_tx,
            closing,
        })
    }

    /// Count a request (or upgraded connection) until the guard drops.
    pub fn enter(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        InflightGuard {
            upstream: self.clone(),
        }
    }

    /// As `enter`, for a guard that does not outlive the caller's hold on the target.
    pub fn enter_here(&self) -> InflightRef<'_> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        InflightRef { upstream: self }
    }

    fn leave(&self) {
        if self.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
        let _ = self.ready_tx.send(true);
    }

    /// Ready and not taken out: a target balancing may pick.
    #[inline]
    pub fn is_up(&self) -> bool {
        self.is_ready() && !self.down.load(Ordering::Relaxed)
    }

    /// Take the target out of balancing (true) or put it back (false); true when it changed.
    pub fn set_down(&self, down: bool) -> bool {
        self.down.swap(down, Ordering::Relaxed) != down
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// The target left its service: health watches stop checking it.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// Wait until the target is ready (restored targets are health-checked first).
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        let mut rx = self.ready_tx.subscribe();
        let ok = tokio::time::timeout(limit, rx.wait_for(|r| *r))
            .await
            .is_ok();
        ok
    }

    /// Wait until no request is in flight, or `limit` passes. Returns the count left.
    pub async fn drain(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.idle.notified();
            if self.inflight() == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inflight();
            }
        }
    }

    /// Ask upgraded connections to this target to close.
    pub fn close_upgraded(&self) {
        let _ = self.closing.send(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// Decrements the upstream's in-flight count when dropped.
#[derive(Debug)]
pub struct InflightGuard {
    upstream: Arc<Upstream>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.upstream.leave();
    }
}

/// Keeps a request counted on its upstream (borrowing the upstream).
pub struct InflightRef<'a> {
    upstream: &'a Upstream,
}

impl Drop for InflightRef<'_> {
    fn drop(&mut self) {
        self.upstream.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_inflight() {
        let t = Upstream::new("x:1", true);
        let g = t.enter();
        assert_eq!(t.drain(Duration::from_millis(50)).await, 1);
        let t2 = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(g);
            drop(t2);
        });
        assert_eq!(t.drain(Duration::from_secs(5)).await, 0);
    }
}
