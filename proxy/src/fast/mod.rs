//! The HTTP/1.1 fast path: most requests are plain keep-alive requests to a live service, and
//! for those the proxy does what nginx does — read the head into one buffer, check and route
//! it, write the target's head (and a small body) in one write on a pooled connection, read
//! the response head, rewrite it into one buffer with the first body bytes, and pass the rest
//! of the body through as it arrives. A connection starts here and moves to the general hyper
//! path (`conn.rs`) at the first request the fast path does not carry (see `request.rs`),
//! with the bytes read so far, and stays there.

pub mod header;
pub mod pool;
pub mod request;
pub mod response;

use crate::forward::{Logged, Proxy};
use request::{Parsed, Plan};
use response::{Chunks, Framing, Head};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A target's response head larger than this is refused (502), as hyper's client does.
const MAX_RESPONSE_HEAD: usize = 400 * 1024;
/// Read size for response bodies.
const READ_SIZE: usize = 16 * 1024;

/// How a connection left the fast path.
pub enum End<S> {
    /// Closed (or to be closed): the client left, timed out, asked, or the proxy stops.
    Closed,
    /// The general path takes over with these bytes already read from the client.
    General(S, Vec<u8>),
}

/// Serve requests on `client` until it closes or a request needs the general path.
pub async fn serve<S>(
    mut client: S,
    peer: SocketAddr,
    tls: bool,
    proxy: &Arc<Proxy>,
    stop: &mut watch::Receiver<bool>,
) -> End<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ip = peer.ip().to_string();
    let who = request::Client { ip: &ip, tls };
    let head_limit = proxy.limits.max_header_bytes.max(8192);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // Taken while a request is under way, so idle connections hold only their read buffer.
    let mut held: Option<Scratch> = None;
    let mut id = String::new();
    loop {
        // A complete request head (the header timeout runs from the wait's start, as on the
        // general path, so idle keep-alive connections close after it too).
        let deadline = tokio::time::Instant::now() + proxy.limits.header_timeout;
        let plan = loop {
            if !buf.is_empty() {
                let scratch = held.get_or_insert_with(Scratch::take);
                match request::plan(&buf, proxy, &who, &mut scratch.out, &mut id) {
                    Parsed::Fast(plan) => break plan,
                    Parsed::General => return End::General(client, buf),
                    // The general path answers 431.
                    Parsed::Partial if buf.len() >= head_limit => return End::General(client, buf),
                    Parsed::Partial => {}
                }
            }
            if buf.is_empty() && *stop.borrow() {
                return End::Closed;
            }
            buf.reserve(4096);
            let read = tokio::select! {
                r = tokio::time::timeout_at(deadline, client.read_buf(&mut buf)) => r,
                _ = async { let _ = stop.wait_for(|s| *s).await; }, if buf.is_empty() => {
                    return End::Closed
                }
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return End::Closed,
                Err(_) => {
                    if !buf.is_empty() {
                        let _ =
                            answer(&mut client, 408, "the request head took too long", true).await;
                    }
                    return End::Closed;
                }
            }
        };
        let started = Instant::now();

        // The body, whole (it is small), after the head in the same write.
        let need = plan.head_len + plan.body_len;
        while buf.len() < need {
            buf.reserve(need - buf.len());
            let read = tokio::time::timeout(proxy.limits.header_timeout, client.read_buf(&mut buf));
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return End::Closed,
            }
        }
        let scratch = held.get_or_insert_with(Scratch::take);
        scratch.out.extend_from_slice(&buf[plan.head_len..need]);

        let close = plan.close || *stop.borrow();
        let _inflight = plan.stats.start_here();
        let guard = plan.target.enter_here();
        let (out, bufs) = (&scratch.out, &mut scratch.bufs);
        let waiting = Waiting {
            client: &mut client,
            read: &mut buf,
            limit: head_limit,
        };
        let outcome = exchange(waiting, &plan, out, bufs, &id, close, proxy).await;
        drop(guard);
        let (status, bytes, open) = match outcome {
            Outcome::Sent {
                status,
                bytes,
                close_client,
            } => (status, bytes, !close && !close_client),
            Outcome::Aborted { status, bytes } => (status, bytes, false),
            Outcome::Failed { status, why } => {
                // An HTTP/1.0 client would take the error as its connection's last answer.
                let close = close || plan.http10;
                let sent = answer(&mut client, status, &why, close).await;
                (status, 0, sent && !close)
            }
        };
        plan.stats.observe(status, started.elapsed());
        if proxy.log {
            let text =
                |r: &std::ops::Range<usize>| std::str::from_utf8(&buf[r.clone()]).unwrap_or("-");
            crate::forward::log_request(&Logged {
                method: text(&plan.method),
                host: text(&plan.host),
                path: text(&plan.path),
                status,
                bytes,
                started,
                target: &plan.target.addr,
                id: &id,
            });
        }
        if !open {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.shutdown()).await;
            return End::Closed;
        }
        buf.drain(..need);
        held = None;
    }
}

/// The buffers of one response under way.
struct Buffers {
    from_target: Vec<u8>,
    to_client: Vec<u8>,
}

/// A request's buffers, from a per-thread stock they go back to when dropped: a thread
/// serves thousands of connections, few of them with a request under way at once.
struct Scratch {
    /// The head (and body) for the target.
    out: Vec<u8>,
    bufs: Buffers,
}

/// Buffers kept in stock per thread, and the largest buffer kept.
const SPARE_SCRATCH: usize = 64;
const KEEP_CAPACITY: usize = 128 * 1024;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Scratch>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Scratch {
    fn take() -> Scratch {
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

enum Outcome {
    /// The response went to the client (`close_client`: its head said the connection ends).
    Sent {
        status: u16,
        bytes: u64,
        close_client: bool,
    },
    /// The response started but could not be finished; the client connection must close.
    Aborted { status: u16, bytes: u64 },
    /// Nothing went to the client yet; the proxy answers with this.
    Failed { status: u16, why: String },
}

/// The client connection while its request waits for the target: bytes it sends meanwhile
/// (pipelined requests) are kept in `read`, up to `limit`.
struct Waiting<'a, S> {
    client: &'a mut S,
    read: &'a mut Vec<u8>,
    limit: usize,
}

/// Resolves when the client closes its connection (as hyper's server does: no half-close).
async fn client_gone<S: AsyncRead + Unpin>(client: &mut S, read: &mut Vec<u8>, limit: usize) {
    loop {
        if read.len() >= limit {
            return std::future::pending().await;
        }
        read.reserve(4096);
        match client.read_buf(read).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Why no response head came from a target connection.
enum NoHead {
    /// Writing the request failed: the target did not get it.
    Write(std::io::Error),
    /// The connection ended before any response byte.
    Closed(String),
    /// The target answered with something that is not a usable response.
    Bad(String),
}

/// Send the request to the target (a pooled connection when there is one, once more on a new
/// connection when a reused one turns out closed) and pass its response to the client.
async fn exchange<S>(
    waiting: Waiting<'_, S>,
    plan: &Plan,
    out: &[u8],
    scratch: &mut Buffers,
    id: &str,
    close: bool,
    proxy: &Proxy,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Waiting {
        client,
        read,
        limit,
    } = waiting;
    let addr = plan.target.addr.as_str();
    let deadline = tokio::time::Instant::now() + proxy.limits.response_timeout;
    let timed_out = || Outcome::Failed {
        status: 504,
        why: "the target did not answer in time".into(),
    };
    let (mut conn, head) = loop {
        let (mut conn, reused) = match pool::take(addr, !plan.idempotent) {
            Some(c) => (c, true),
            None => match tokio::time::timeout_at(deadline, pool::connect(addr)).await {
                Ok(Ok(c)) => (c, false),
                Ok(Err(e)) => {
                    return Outcome::Failed {
                        status: 502,
                        why: format!("the target is unreachable: {e}"),
                    }
                }
                Err(_) => return timed_out(),
            },
        };
        let ask = response::Ask {
            head_request: plan.head,
            close,
            http10: plan.http10,
        };
        let attempt = send_and_read_head(&mut conn, out, scratch, ask, id);
        let answered = tokio::select! {
            r = tokio::time::timeout_at(deadline, attempt) => r,
            // Nobody is left to answer: the target connection (and its work) is dropped.
            _ = client_gone(client, read, limit) => return Outcome::Aborted { status: 499, bytes: 0 },
        };
        match answered {
            Err(_) => return timed_out(),
            Ok(Ok(head)) => break (conn, head),
            // A reused connection the target had closed: the request did not reach it (or,
            // for a request that is safe to repeat, may be sent again).
            Ok(Err(NoHead::Write(_))) if reused => continue,
            Ok(Err(NoHead::Closed(_))) if reused && plan.idempotent => continue,
            Ok(Err(NoHead::Write(e))) => {
                return Outcome::Failed {
                    status: 502,
                    why: format!("the target is unreachable: {e}"),
                }
            }
            Ok(Err(NoHead::Closed(why) | NoHead::Bad(why))) => {
                return Outcome::Failed { status: 502, why }
            }
        }
    };
    let close_client = head.close_client;
    match pass_body(client, &mut conn, head, scratch).await {
        Ok((status, bytes, reusable)) => {
            if reusable {
                pool::put(addr, conn);
            }
            Outcome::Sent {
                status,
                bytes,
                close_client,
            }
        }
        Err((status, bytes)) => Outcome::Aborted { status, bytes },
    }
}

/// Write the request and read up to a final response head (informational ones skipped);
/// the client's head is then in `scratch.to_client`, the bytes after the target's head in
/// `scratch.from_target`.
async fn send_and_read_head(
    conn: &mut TcpStream,
    out: &[u8],
    scratch: &mut Buffers,
    ask: response::Ask,
    id: &str,
) -> Result<Head, NoHead> {
    conn.write_all(out).await.map_err(NoHead::Write)?;
    let buf = &mut scratch.from_target;
    buf.clear();
    let mut got_any = false;
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_SIZE);
        }
        let n = conn.read_buf(buf).await.map_err(|e| {
            if got_any {
                NoHead::Bad(format!("the target's connection failed mid-response: {e}"))
            } else {
                NoHead::Closed(format!("the target's connection failed: {e}"))
            }
        })?;
        if n == 0 {
            return Err(if got_any {
                NoHead::Bad(
                    "the target closed the connection in the middle of a response head".into(),
                )
            } else {
                NoHead::Closed("the target closed the connection without answering".into())
            });
        }
        got_any = true;
        loop {
            match response::parse(buf, ask, id, &mut scratch.to_client) {
                response::Parsed::Final(head) => {
                    buf.drain(..head.len);
                    return Ok(head);
                }
                response::Parsed::Informational(n) => {
                    buf.drain(..n);
                }
                response::Parsed::Partial if buf.len() > MAX_RESPONSE_HEAD => {
                    return Err(NoHead::Bad(
                        "the target's response head is too large".into(),
                    ))
                }
                response::Parsed::Partial => break,
                response::Parsed::Bad(why) => return Err(NoHead::Bad(why.into())),
            }
        }
    }
}

/// Send the client its head and the body as it comes. Ok: (status, body bytes, the target
/// connection can be reused); Err: (status, bytes sent) when either side failed mid-way.
async fn pass_body<S>(
    client: &mut S,
    conn: &mut TcpStream,
    head: Head,
    scratch: &mut Buffers,
) -> Result<(u16, u64, bool), (u16, u64)>
where
    S: AsyncWrite + Unpin,
{
    let status = head.status;
    let mut left = match head.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let mut chunks = Chunks::default();
    let mut bytes = 0u64;
    // Bytes the target sent beyond this response: its connection is not reused.
    let mut extra = false;
    let mut first = true;
    let mut finished = head.framing == Framing::Empty;
    loop {
        let Buffers {
            from_target,
            to_client,
        } = &mut *scratch;
        let got = &from_target[..];
        // A de-chunked body is gathered in `to_client` (after the head, the first time).
        if head.dechunk && !first {
            to_client.clear();
        }
        let take = match head.framing {
            Framing::Empty => 0,
            Framing::Length(_) => {
                let n = left.min(got.len() as u64) as usize;
                left -= n as u64;
                bytes += n as u64;
                finished = left == 0;
                n
            }
            Framing::Chunked => {
                let data = head.dechunk.then_some(&mut *to_client);
                match chunks.follow(got, data) {
                    Ok(Some(end)) => {
                        finished = true;
                        end
                    }
                    Ok(None) => got.len(),
                    Err(_) => return Err((status, bytes)),
                }
            }
            Framing::UntilClose => {
                bytes += got.len() as u64;
                got.len()
            }
        };
        extra |= take < got.len();
        let sent = if head.dechunk {
            first = false;
            match to_client.is_empty() {
                true => Ok(()),
                false => client.write_all(to_client).await,
            }
        } else if first {
            // The head and the first body bytes in one write.
            first = false;
            to_client.extend_from_slice(&got[..take]);
            client.write_all(to_client).await
        } else {
            client.write_all(&got[..take]).await
        };
        if sent.is_err() || client.flush().await.is_err() {
            return Err((status, bytes));
        }
        if finished {
            break;
        }
        scratch.from_target.clear();
        if scratch.from_target.capacity() < READ_SIZE {
            scratch.from_target.reserve(READ_SIZE);
        }
        match conn.read_buf(&mut scratch.from_target).await {
            Ok(0) if head.framing == Framing::UntilClose => return Ok((status, bytes, false)),
            Ok(0) | Err(_) => return Err((status, bytes)),
            Ok(_) => {}
        }
    }
    if head.framing == Framing::Chunked {
        bytes = chunks.data;
    }
    Ok((status, bytes, head.reusable && !extra))
}

/// Answer the client with a short text response the proxy made (its errors). False when the
/// client could not be written to.
async fn answer<S>(client: &mut S, status: u16, why: &str, close: bool) -> bool
where
    S: AsyncWrite + Unpin,
{
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let connection = if close { "connection: close\r\n" } else { "" };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{connection}\r\n{why}\n",
        why.len() + 1
    );
    client.write_all(msg.as_bytes()).await.is_ok() && client.flush().await.is_ok()
}
