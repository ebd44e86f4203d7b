//! Spreads client connections evenly over the data-plane threads. SO_REUSEPORT hashes each
//! connection to a thread at random, so a few dozen long-lived keep-alive connections (a load
//! balancer's, a busy client's) can land 40/24 on two threads, and the busier thread's clients
//! wait longer. A thread that accepts a connection while another thread serves fewer hands
//! the connection over to it, once, right after the accept.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A connection accepted by one thread, to be served by another.
pub struct Handoff {
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    /// Accepted on the HTTPS port.
    pub tls: bool,
    /// Already counted on the receiving thread.
    pub open: Open,
}

/// Open connections per thread and each thread's inbox for handed-over connections.
pub struct Balance {
    open: Vec<AtomicUsize>,
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
}

/// Counts a connection as open on its thread until dropped.
pub struct Open {
    balance: Arc<Balance>,
    worker: usize,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.balance.open[self.worker].fetch_sub(1, Ordering::SeqCst);
    }
}

impl Balance {
    /// For `workers` threads: the shared balance and each thread's inbox.
    pub fn new(workers: usize) -> (Arc<Balance>, Vec<mpsc::UnboundedReceiver<Handoff>>) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let balance = Balance {
            open: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            inboxes: senders,
        };
        (Arc::new(balance), receivers)
    }

    /// The thread that serves a connection `me` just accepted (counted as open there now):
    /// `me`, unless another thread serves at least two fewer.
    pub fn place(self: &Arc<Self>, me: usize) -> (usize, Open) {
        let mine = self.open[me].load(Ordering::Relaxed);
        let (least, fewest) = self
            .open
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.load(Ordering::Relaxed)))
            .min_by_key(|(_, n)| *n)
            .unwrap_or((me, mine));
        let worker = if fewest + 1 < mine { least } else { me };
        self.open[worker].fetch_add(1, Ordering::SeqCst);
        let open = Open {
            balance: self.clone(),
            worker,
        };
        (worker, open)
    }

    /// Hand a connection to `worker`; gives it back when that thread no longer takes any.
    pub fn send(&self, worker: usize, h: Handoff) -> Result<(), Handoff> {
        self.inboxes[worker].send(h).map_err(|e| e.0)
    }

    /// Connections open on every thread together.
    pub fn total(&self) -> usize {
        self.open.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    /// Connections open on `worker`.
    pub fn open(&self, worker: usize) -> usize {
        self.open[worker].load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_thread_serving_fewest() {
        let (b, _inboxes) = Balance::new(2);
        let mut held = Vec::new();
        // Thread 0 accepts every connection (as a skewed SO_REUSEPORT hash would have it).
        for _ in 0..10 {
            held.push(b.place(0));
        }
        assert_eq!((b.open(0), b.open(1)), (6, 4));
        // Connections of thread 1 end: the next ones go there.
        held.retain(|(w, _)| *w == 0);
        assert_eq!((b.open(0), b.open(1)), (6, 0));
        let (w, _o) = b.place(0);
        assert_eq!(w, 1);
    }
}
