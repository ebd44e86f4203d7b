//! One fast-path exchange with a target: send the request on a pooled connection (or a new
//! one; once more on a new one when a reused connection turns out closed), read the response
//! head while watching the client for leaving, then pass the head and the body to the client.

use super::chunks::Chunks;
use super::pool;
use super::request::FastPlan;
use super::response::{self, Framing, Head};
use super::scratch::{Buffers, READ_SIZE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A target's response head larger than this is refused (502), as hyper's client does.
const MAX_RESPONSE_HEAD: usize = 400 * 1024;

pub enum Outcome {
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
    /// The target could not be reached (refused, reset, unresolvable) and the request did
    /// not reach it, or may be sent again (idempotent): another target may take it; else it
    /// is a 502 like `Failed`.
    Unreachable { why: String },
}

/// The client connection while its request waits for the target: bytes it sends meanwhile
/// (pipelined requests) are kept in `read`, up to `limit`.
pub struct Waiting<'a, S> {
    pub client: &'a mut S,
    pub read: &'a mut Vec<u8>,
    pub limit: usize,
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
pub async fn exchange<S>(
    waiting: Waiting<'_, S>,
    plan: &FastPlan,
    target: &crate::upstream::Upstream,
    out: &[u8],
    scratch: &mut Buffers,
    id: &str,
    close: bool,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Waiting {
        client,
        read,
        limit,
    } = waiting;
    let addr = target.addr.as_str();
    let deadline = tokio::time::Instant::now() + plan.response_timeout;
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
                    return Outcome::Unreachable {
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
                return Outcome::Unreachable {
                    why: format!("the target is unreachable: {e}"),
                }
            }
            // Reset or closed on a new connection before any answer: safe to send again
            // elsewhere only when the request may be repeated.
            Ok(Err(NoHead::Closed(why))) if plan.idempotent => return Outcome::Unreachable { why },
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
