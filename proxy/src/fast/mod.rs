//! The HTTP/1.1 fast path: most requests are plain keep-alive requests to a live service, and
//! for those the proxy does what nginx does — read the head into one buffer, check and route
//! it, write the target's head (and a small body) in one write on a pooled connection, read
//! the response head, rewrite it into one buffer with the first body bytes, and pass the rest
//! of the body through as it arrives. A connection starts here and moves to the general hyper
//! path (`conn.rs`) at the first request the fast path does not carry (see `request.rs`),
//! with the bytes read so far, and stays there.

pub mod chunks;
pub mod exchange;
pub mod header;
pub mod idle_read;
pub mod pool;
pub mod request;
pub mod response;
pub mod scratch;

use crate::access_log;
use crate::proxy::Proxy;
use exchange::{exchange, Outcome, Waiting};
use request::{FastPlan, Parsed};
use scratch::Scratch;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

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
    let who = request::ClientSide {
        ip: &ip,
        tls,
        trusted: proxy.rules.trust.trusts(peer.ip()),
    };
    let head_limit = proxy.limits.max_header_bytes.max(8192);
    // Empty (no allocation) while the connection waits: see `idle_read.rs`.
    let mut buf: Vec<u8> = Vec::new();
    // Taken while a request is under way, so idle connections hold no buffers of their own.
    let mut held: Option<Scratch> = None;
    let mut id = String::new();
    loop {
        let mut reading = Reading {
            client: &mut client,
            buf: &mut buf,
            held: &mut held,
            id: &mut id,
        };
        let plan = match next_plan(&mut reading, proxy, &who, head_limit, stop).await {
            Next::Plan(plan) => plan,
            Next::Closed => return End::Closed,
            Next::General => return End::General(client, buf),
        };
        let started = Instant::now();
        let need = plan.head_len + plan.body_len;
        if !read_body(&mut reading, need, proxy).await {
            return End::Closed;
        }
        let scratch = held.get_or_insert_with(Scratch::take);
        scratch.out.extend_from_slice(&buf[plan.head_len..need]);

        let close = plan.close || *stop.borrow();
        let _inflight = plan.stats.start_here();
        // Another of the service's targets, when the planned one could not take it.
        let mut instead: Option<Arc<crate::upstream::Upstream>> = None;
        let outcome = loop {
            let target = instead.as_ref().unwrap_or(&plan.target);
            let guard = target.enter_here();
            let (out, bufs) = (&scratch.out, &mut scratch.bufs);
            let waiting = Waiting {
                client: &mut client,
                read: &mut buf,
                limit: head_limit,
            };
            // Boxed: the exchange's state exists only while a request is under way, so the
            // connection's task is small while it waits for the next one.
            let outcome = Box::pin(exchange(waiting, &plan, target, out, bufs, &id, close)).await;
            drop(guard);
            match outcome {
                Outcome::Unreachable { why } => match retarget(&plan, target) {
                    Some(next) => instead = Some(next),
                    None => break Outcome::Failed { status: 502, why },
                },
                other => break other,
            }
        };
        let (status, bytes, open) = match outcome {
            Outcome::Sent {
                status,
                bytes,
                close_client,
            } => (status, bytes, !close && !close_client),
            Outcome::Aborted { status, bytes } => (status, bytes, false),
            // Turned into `Failed` above; never here.
            Outcome::Unreachable { .. } => (502, 0, false),
            Outcome::Failed { status, why } => {
                // An HTTP/1.0 client would take the error as its connection's last answer.
                let close = close || plan.http10;
                let page = plan.pages.as_ref().and_then(|t| t.pages.for_status(status));
                let sent = answer(&mut client, status, &why, close, page.map(|p| &p[..])).await;
                (status, 0, sent && !close)
            }
        };
        plan.stats.observe(status, started.elapsed());
        if proxy.log {
            log(&buf, &plan, status, bytes, started, &id);
        }
        if !open {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.shutdown()).await;
            return End::Closed;
        }
        buf.drain(..need);
        if buf.is_empty() {
            // Nothing pipelined behind it: the connection waits holding no buffer.
            buf = Vec::new();
        }
        held = None;
    }
}

/// A request its target could not take goes to another of the service's targets, and that
/// target is taken out of balancing until its health check passes again (`health::watch`).
/// None with one target, or when no other is up.
#[cold]
fn retarget(
    plan: &FastPlan,
    tried: &crate::upstream::Upstream,
) -> Option<Arc<crate::upstream::Upstream>> {
    let replicas = plan.replicas.as_ref()?;
    if tried.set_down(true) {
        tracing::warn!(target = %tried.addr, "target unreachable: taken out");
    }
    replicas.other_than(tried).cloned()
}

/// A connection between requests: the client, the bytes read from it, the request's buffers
/// once one is under way, and its id.
struct Reading<'a, S> {
    client: &'a mut S,
    buf: &'a mut Vec<u8>,
    held: &'a mut Option<Scratch>,
    id: &'a mut String,
}

/// What came after the last request.
enum Next {
    Plan(FastPlan),
    Closed,
    General,
}

/// Read until a complete request head the fast path carries (its target's head written), or
/// the connection closes, or the request needs the general path. The header timeout runs from
/// the wait's start, as on the general path, so idle keep-alive connections close after it.
async fn next_plan<S>(
    r: &mut Reading<'_, S>,
    proxy: &Proxy,
    who: &request::ClientSide<'_>,
    head_limit: usize,
    stop: &mut watch::Receiver<bool>,
) -> Next
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut deadline = tokio::time::Instant::now() + proxy.limits.header_timeout;
    loop {
        if !r.buf.is_empty() {
            let scratch = r.held.get_or_insert_with(Scratch::take);
            match request::plan(r.buf, proxy, who, &mut scratch.out, r.id) {
                Parsed::Fast(plan) => return Next::Plan(plan),
                Parsed::General => return Next::General,
                // The general path answers 431.
                Parsed::Partial if r.buf.len() >= head_limit => return Next::General,
                Parsed::Partial => {}
            }
        }
        let stopping = *stop.borrow();
        if stopping && r.buf.is_empty() {
            // Lingering (see `drain.rs`): a request on its way gets its answer, with
            // `Connection: close`, rather than a closed connection.
            match proxy.drain.linger_end() {
                Some(end) if end > tokio::time::Instant::now() => deadline = deadline.min(end),
                _ => return Next::Closed,
            }
        }
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, idle_read::read_appending(r.client, r.buf)) => read,
            _ = async { let _ = stop.wait_for(|s| *s).await; }, if r.buf.is_empty() && !stopping => {
                continue
            }
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Next::Closed,
            Err(_) => {
                if !r.buf.is_empty() {
                    let why = "the request head took too long";
                    let _ = answer(r.client, 408, why, true, None).await;
                }
                return Next::Closed;
            }
        }
    }
}

/// Read the body, whole (it is small), to go after the head in the same write: until `need`
/// bytes are buffered. False: the client left or took too long.
async fn read_body<S>(r: &mut Reading<'_, S>, need: usize, proxy: &Proxy) -> bool
where
    S: AsyncRead + Unpin,
{
    while r.buf.len() < need {
        let read = idle_read::read_appending(r.client, r.buf);
        let read = tokio::time::timeout(proxy.limits.header_timeout, read);
        match read.await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
    true
}

/// The access log line of a fast-path request (its fields point into the client buffer).
fn log(buf: &[u8], plan: &FastPlan, status: u16, bytes: u64, started: Instant, id: &str) {
    let text = |r: &std::ops::Range<usize>| std::str::from_utf8(&buf[r.clone()]).unwrap_or("-");
    access_log::write(&access_log::Entry {
        method: text(&plan.method),
        host: text(&plan.host),
        path: text(&plan.path),
        status,
        bytes,
        started,
        target: &plan.target.addr,
        id,
    });
}

/// Answer the client with a short text response the proxy made (its errors), or the service's
/// own HTML `page` for it. False when the client could not be written to.
async fn answer<S>(client: &mut S, status: u16, why: &str, close: bool, page: Option<&[u8]>) -> bool
where
    S: AsyncWrite + Unpin,
{
    if let Some(page) = page {
        return answer_page(client, status, page, close).await;
    }
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

/// Answer with a service's own error page.
async fn answer_page<S>(client: &mut S, status: u16, page: &[u8], close: bool) -> bool
where
    S: AsyncWrite + Unpin,
{
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let connection = if close { "connection: close\r\n" } else { "" };
    let mut msg = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: {}\r\n{connection}\r\n",
        page.len()
    )
    .into_bytes();
    msg.extend_from_slice(page);
    client.write_all(&msg).await.is_ok() && client.flush().await.is_ok()
}
