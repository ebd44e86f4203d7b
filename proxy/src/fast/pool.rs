//! Idle keep-alive connections to targets for the HTTP/1 fast path, one pool per data-plane
//! thread (a request and the target connection carrying it stay on one thread, no locks).
//! A connection is handed out only if it is still open: the reactor already knows when a
//! target closed it, so the check costs no system call for a healthy connection.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per target.
const MAX_IDLE: usize = 256;
/// How often idle connections of every target are swept (targets that got no more requests,
/// e.g. the old one after a switch, would otherwise keep theirs).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Time to open a connection to a target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Idle {
    stream: TcpStream,
    since: Instant,
}

struct Pool {
    /// Per target address (a thread talks to few targets: a list beats hashing the address).
    by_target: Vec<(String, Vec<Idle>)>,
    swept: Instant,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool {
        by_target: Vec::new(),
        swept: Instant::now(),
    });
}

/// An idle, still open connection to `addr`, if the pool has one. `once_only`: the request
/// cannot be sent again if the connection fails, so the kernel is asked too.
pub fn take(addr: &str, once_only: bool) -> Option<TcpStream> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let (_, idle) = p.by_target.iter_mut().find(|(a, _)| a == addr)?;
        while let Some(c) = idle.pop() {
            if c.since.elapsed() < IDLE_TIMEOUT
                && still_open(&c.stream)
                && (!once_only || kernel_says_open(&c.stream))
            {
                return Some(c.stream);
            }
        }
        None
    })
}

/// Give a connection whose last response was read completely back to the pool.
pub fn put(addr: &str, stream: TcpStream) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let now = Instant::now();
        if now.duration_since(p.swept) > SWEEP_EVERY {
            p.swept = now;
            p.by_target.retain_mut(|(_, idle)| {
                idle.retain(|c| now.duration_since(c.since) < IDLE_TIMEOUT);
                !idle.is_empty()
            });
        }
        match p.by_target.iter_mut().find(|(a, _)| a == addr) {
            Some((_, idle)) if idle.len() < MAX_IDLE => idle.push(Idle { stream, since: now }),
            Some(_) => {}
            None => p
                .by_target
                .push((addr.to_string(), vec![Idle { stream, since: now }])),
        }
    })
}

/// No data and no end-of-stream waiting on an idle connection (tokio answers from the
/// readiness the reactor recorded; it reads only when the socket was marked readable).
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Ask the kernel itself whether an idle connection is still open (a system call): for a
/// request that must not be sent twice, the reactor may not have seen a target's close that
/// arrived a moment ago.
pub fn kernel_says_open(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut probe = [0u8; 1];
    // SAFETY: recv on a file descriptor this stream owns, into a local one-byte buffer.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            probe.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

/// Open a new connection to `addr` (`ip:port` or `name:port`, names resolved without glibc).
pub async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let open = async {
        let to: SocketAddr = match addr.parse() {
            Ok(a) => a,
            Err(_) => {
                let (host, port) = addr
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                    .ok_or_else(|| std::io::Error::other(format!("bad target address {addr}")))?;
                let ips = crate::dns::resolve(host).await?;
                let ip = ips
                    .first()
                    .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
                SocketAddr::new(*ip, port)
            }
        };
        let stream = TcpStream::connect(to).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "connecting to {addr} took over {}s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ))
        })
}
