//! A service's body limits and buffering on the general path (`[proxy.buffering]` of the
//! config, carried by its deploy): a declared request body over the service's limit is
//! refused (413) before the target is asked; a buffered request body is read whole (never
//! past the limit or the buffer: 413) before the target's request is opened; a buffered
//! response body is read whole (past its limit or the buffer: 502, nothing sent yet) before
//! any of it goes to the client. The proxy never spills a body to disk.

use crate::body::{full, ProxyBody, TargetBody};
use crate::forward::reply::{text, text_and_close};
use crate::limits::{self, Effective, Refusal};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{HeaderMap, Request, Response, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a body could not be read whole.
#[derive(Debug, PartialEq)]
enum Failed {
    /// Past the limit.
    TooLarge,
    /// No bytes for longer than the idle time.
    Stalled,
    /// The sender failed or went away.
    Broken,
}

/// Read `body` whole, at most `limit` bytes (0 = no limit), each frame within `idle`.
/// Trailers are dropped (a whole body is sent with a Content-Length).
async fn whole<B>(mut body: B, limit: u64, idle: Duration) -> Result<Bytes, Failed>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut out = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Failed::Stalled),
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(_))) => return Err(Failed::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if limit > 0 && (out.len() + data.len()) as u64 > limit {
                return Err(Failed::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

/// The answer to a request body over the service's limit (the connection closes: the rest
/// of its bytes cannot be trusted to frame a next request).
pub fn too_large(limits: &Effective, declared: Option<u64>) -> Response<ProxyBody> {
    let of = declared
        .map(|n| format!(" of {n} bytes"))
        .unwrap_or_default();
    let why = if limits.buffer_requests && limits.max_request_body == limits.memory {
        format!(
            "request body{of} is over the proxy's buffer of {} bytes",
            limits.memory
        )
    } else {
        format!(
            "request body{of} is over the limit of {} bytes",
            limits.max_request_body
        )
    };
    text_and_close(StatusCode::PAYLOAD_TOO_LARGE, &why)
}

/// A request whose declared body is over the service's limit: its 413.
pub fn declared_too_large(headers: &HeaderMap, limits: &Effective) -> Option<Response<ProxyBody>> {
    match limits::check(headers, limits.max_request_body) {
        Err(Refusal::TooLarge(n)) => Some(too_large(limits, Some(n))),
        _ => None,
    }
}

/// The request with its body read whole (it is capped at the service's limit, which sets
/// `tripped`; a malformed one sets `malformed`), or the proxy's answer: 413 over the limit,
/// 400 for a malformed or broken body, 408 for a client that stalls longer than `idle`.
pub async fn whole_request(
    req: Request<TargetBody>,
    limits: &Effective,
    idle: Duration,
    flags: (&AtomicBool, &AtomicBool),
) -> Result<Request<TargetBody>, Response<ProxyBody>> {
    let (tripped, malformed) = flags;
    let (mut parts, body) = req.into_parts();
    match whole(body, limits.max_request_body, idle).await {
        Ok(bytes) => {
            parts.headers.remove(TRANSFER_ENCODING);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len() as u64));
            let body = http_body_util::Full::new(bytes)
                .map_err(|e| match e {})
                .boxed();
            Ok(Request::from_parts(parts, body))
        }
        Err(Failed::TooLarge) => Err(too_large(limits, None)),
        Err(_) if tripped.load(Ordering::SeqCst) => Err(too_large(limits, None)),
        Err(Failed::Stalled) => Err(text_and_close(
            StatusCode::REQUEST_TIMEOUT,
            "the request body took too long",
        )),
        Err(_) if malformed.load(Ordering::SeqCst) => Err(text_and_close(
            StatusCode::BAD_REQUEST,
            "bad request: the request body is malformed",
        )),
        Err(_) => Err(text_and_close(
            StatusCode::BAD_REQUEST,
            "bad request: the request body could not be read",
        )),
    }
}

/// The target's response with its body read whole (at most `cap` bytes, 0 = any; each part
/// within `idle`), or the proxy's answer: 502 over the limit or for a broken body, 504 for a
/// target that stalls.
pub async fn whole_response(
    resp: Response<Incoming>,
    cap: u64,
    idle: Duration,
) -> Result<Response<ProxyBody>, Response<ProxyBody>> {
    let over = || {
        text(
            StatusCode::BAD_GATEWAY,
            &format!("the target's response is over the limit of {cap} bytes"),
        )
    };
    let (mut parts, body) = resp.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if cap > 0 && declared.is_some_and(|n| n > cap) {
        return Err(over());
    }
    match whole(body, cap, idle).await {
        Ok(bytes) => {
            let bodiless = parts.status.is_informational()
                || parts.status == StatusCode::NO_CONTENT
                || parts.status == StatusCode::NOT_MODIFIED;
            if parts.headers.remove(TRANSFER_ENCODING).is_some() && !bodiless {
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len() as u64));
            }
            Ok(Response::from_parts(parts, full(bytes)))
        }
        Err(Failed::TooLarge) => Err(over()),
        Err(Failed::Stalled) => Err(text(
            StatusCode::GATEWAY_TIMEOUT,
            "the target did not finish its response in time",
        )),
        Err(Failed::Broken) => Err(text(
            StatusCode::BAD_GATEWAY,
            "the target's response broke off",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn whole_bodies_stop_at_the_limit() {
        let b = || http_body_util::Full::new(Bytes::from_static(b"hello world"));
        let idle = Duration::from_secs(1);
        assert_eq!(
            whole(b(), 0, idle).await,
            Ok(Bytes::from_static(b"hello world"))
        );
        assert_eq!(whole(b(), 11, idle).await.map(|b| b.len()), Ok(11));
        assert_eq!(whole(b(), 10, idle).await, Err(Failed::TooLarge));
    }
}
