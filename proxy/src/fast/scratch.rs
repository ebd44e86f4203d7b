//! The fast path's per-request buffers, taken from a per-thread stock and given back when the
//! request is done: a thread serves thousands of connections, few of them with a request
//! under way at once, so idle connections hold only their read buffer.

/// Read size for response bodies.
pub const READ_SIZE: usize = 16 * 1024;

/// The buffers of one response under way.
pub struct Buffers {
    pub from_target: Vec<u8>,
    pub to_client: Vec<u8>,
}

/// A request's buffers, from a per-thread stock they go back to when dropped: a thread
/// serves thousands of connections, few of them with a request under way at once.
pub struct Scratch {
    /// The head (and body) for the target.
    pub out: Vec<u8>,
    pub bufs: Buffers,
}

/// Buffers kept in stock per thread, and the largest buffer kept.
const SPARE_SCRATCH: usize = 64;
const KEEP_CAPACITY: usize = 128 * 1024;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Scratch>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Scratch {
    pub fn take() -> Scratch {
        SPARE
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(|| Scratch {
                out: Vec::with_capacity(4096),
                bufs: Buffers {
                    from_target: Vec::with_capacity(READ_SIZE),
                    to_client: Vec::with_capacity(4096),
                },
            })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let vecs = [&self.out, &self.bufs.from_target, &self.bufs.to_client];
        if vecs
            .iter()
            .any(|v| v.capacity() > KEEP_CAPACITY || v.capacity() == 0)
        {
            return;
        }
        // A full stock (or a thread shutting down): the buffers are freed with `self`.
        let room = SPARE.try_with(|s| s.borrow().len() < SPARE_SCRATCH);
        if room != Ok(true) {
            return;
        }
        // The stocked copy's own drop never runs while it is in stock; when it is taken
        // again it is a Scratch like any other.
        let kept = Scratch {
            out: std::mem::take(&mut self.out),
            bufs: Buffers {
                from_target: std::mem::take(&mut self.bufs.from_target),
                to_client: std::mem::take(&mut self.bufs.to_client),
            },
        };
        let _ = SPARE.try_with(|s| s.borrow_mut().push(kept));
    }
}
