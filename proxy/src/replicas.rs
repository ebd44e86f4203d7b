//! The targets of a service that runs several containers (`replicas` in the CLI's config),
//! and the choice of one for each request.
//!
//! Balancing: least outstanding requests over two targets drawn at random ("power of two
//! choices"). Each target already counts its in-flight requests (`upstream.rs`, for the
//! drain), so the choice reads two atomics and one per-thread random number: no lock, no
//! allocation. Round robin needs a shared counter every request writes (one contended cache
//! line across the data-plane threads) and keeps sending a slow or stuck target its full
//! share; least-outstanding steers away from a target whose requests pile up, and the random
//! pair keeps threads from all rushing to the same "least loaded" target at once (the herd
//! a full scan has). `make bench-proxy`'s `dhow-balanced` row measures its cost beside the
//! single-target case. A service with one target never comes here (`Service::pick`).
//!
//! Health: a target whose connection is refused or reset is taken out at once (`set_down`,
//! by the data plane), and `health::watch` checks every target on the service's interval,
//! taking failing ones out and putting them back once they answer again.

use crate::upstream::Upstream;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

/// Two or more targets of one service, the first being the one `Service::target` names.
#[derive(Debug)]
pub struct Replicas {
    pub all: Box<[Arc<Upstream>]>,
}

thread_local! {
    static SEED: Cell<u64> = const { Cell::new(0) };
}

/// A per-thread xorshift64* number: no lock, good enough to draw a pair.
#[inline]
pub(crate) fn random() -> u64 {
    SEED.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // Distinct per thread: the address of the thread-local, mixed with the clock.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            x = (s as *const Cell<u64> as u64) ^ t | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

impl Replicas {
    pub fn new(all: Vec<Arc<Upstream>>) -> Replicas {
        Replicas { all: all.into() }
    }

    /// The target for the next request: of two drawn at random, the one with fewer requests
    /// in flight, among those up; when neither is up, the first that is; when none is, the
    /// first ready one (the request then fails or succeeds there, as with one target).
    #[inline]
    pub fn pick(&self) -> &Arc<Upstream> {
        let n = self.all.len();
        let r = random();
        let i = (r % n as u64) as usize;
        // A second index, distinct from the first.
        let j = (i + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n;
        let (a, b) = (&self.all[i], &self.all[j]);
        match (a.is_up(), b.is_up()) {
            (true, true) => {
                if b.inflight() < a.inflight() {
                    b
                } else {
                    a
                }
            }
            (true, false) => a,
            (false, true) => b,
            (false, false) => self.fallback(),
        }
    }

    #[cold]
    fn fallback(&self) -> &Arc<Upstream> {
        self.all
            .iter()
            .find(|t| t.is_up())
            .or_else(|| self.all.iter().find(|t| t.is_ready()))
            .unwrap_or(&self.all[0])
    }

    /// Another target that is up, with the fewest requests in flight, for a request that
    /// `tried` could not take (never sent there).
    pub fn other_than(&self, tried: &Upstream) -> Option<&Arc<Upstream>> {
        self.all
            .iter()
            .filter(|t| !std::ptr::eq(&***t, tried) && t.is_up())
            .min_by_key(|t| t.inflight())
    }

    /// Any target may take requests (ready, whether or not it is taken out).
    pub fn any_ready(&self) -> bool {
        self.all.iter().any(|t| t.is_ready())
    }
}

/// Drain every target of `old` that is not one of `now` (by address), then close its
/// upgraded connections; the requests left unfinished when the drain timed out.
pub async fn drain_replaced(old: &[Arc<Upstream>], now: &[String], limit: Duration) -> usize {
    for t in old {
        // Its service holds new targets now: the old set's health watch ends.
        t.retire();
    }
    let gone: Vec<&Arc<Upstream>> = old.iter().filter(|t| !now.contains(&t.addr)).collect();
    let left = futures::future::join_all(gone.iter().map(|t| t.drain(limit))).await;
    for t in &gone {
        t.close_upgraded();
    }
    left.into_iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Replicas {
        Replicas::new(
            (1..=3)
                .map(|i| Upstream::new(format!("t{i}:80"), true))
                .collect(),
        )
    }

    #[test]
    fn picks_spread_over_every_target_and_skip_those_taken_out() {
        let r = three();
        let mut seen = [0usize; 3];
        for _ in 0..3000 {
            let t = r.pick();
            seen[r.all.iter().position(|x| Arc::ptr_eq(x, t)).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 500), "{seen:?}");
        r.all[1].set_down(true);
        for _ in 0..500 {
            assert!(!Arc::ptr_eq(r.pick(), &r.all[1]));
        }
        r.all[0].set_down(true);
        r.all[2].set_down(true);
        // Nothing up: the first ready one still gets the request.
        assert!(Arc::ptr_eq(r.pick(), &r.all[0]));
    }

    #[test]
    fn the_less_loaded_of_the_pair_wins() {
        let r = three();
        let _busy: Vec<_> = (0..5).map(|_| r.all[0].enter()).collect();
        for _ in 0..500 {
            assert!(
                !Arc::ptr_eq(r.pick(), &r.all[0]),
                "a loaded target was chosen"
            );
        }
        let other = r.other_than(&r.all[1]).unwrap();
        assert!(Arc::ptr_eq(other, &r.all[2]));
    }

    #[test]
    fn a_target_not_ready_yet_is_not_picked() {
        let r = Replicas::new(vec![
            Upstream::new("a:1", false),
            Upstream::new("b:1", true),
        ]);
        for _ in 0..100 {
            assert_eq!(r.pick().addr, "b:1");
        }
        assert!(r.any_ready());
    }
}
