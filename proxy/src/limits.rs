//! Request limits and the checks that keep malformed or smuggling-shaped requests away from
//! targets: the size limits (header size is enforced by the HTTP parser, body size here), the
//! timeouts, the connection cap, each service's own limits and buffering ([`ServiceLimits`],
//! from its deploy), and the refusal of requests whose framing two parsers could read
//! differently.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::HeaderMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The data plane's limits (flags of `dhow-proxy run`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a client has to send a request's headers (slowloris).
    pub header_timeout: Duration,
    /// Largest request head (request line + headers), in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes; larger gets 413. 0 = no limit.
    pub max_body_bytes: u64,
    /// Time a target has to answer with a response head; longer gets 504.
    pub response_timeout: Duration,
    /// How long a paused service holds a request before answering 503.
    pub pause_timeout: Duration,
    /// Client connections open at once; more are closed as they are accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024 * 1024,
            response_timeout: Duration::from_secs(60),
            pause_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The connection cap when `--max-connections` is not given (lowered to fit the file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The connection cap: `given`, else [`DEFAULT_MAX_CONNECTIONS`] or, when the open-file limit
/// is lower, what fits in it (a proxied connection holds two files: the client's and the
/// target's). The soft open-file limit is raised to the hard one first, as nginx does.
pub fn max_connections(given: Option<usize>) -> usize {
    if let Some(n) = given {
        return n.max(1);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return DEFAULT_MAX_CONNECTIONS;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    // Files for the listeners, the control socket, the state and certificates.
    let spare = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(128);
    (spare / 2).clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// A service's own limits, as its deploy gave them (`response_timeout_ms`, `buffering`); the
/// proxy's flags apply to whatever it leaves out. The default (nothing set) costs requests
/// nothing: both paths behave as before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceLimits {
    pub response_timeout_ms: Option<u64>,
    pub buffering: Option<dhow_proxy_api::Buffering>,
}

/// A service's limits with the proxy's filled in, for one request on the general path.
#[derive(Debug, Clone, Copy)]
pub struct Effective {
    pub response_timeout: Duration,
    /// Largest request body (0 = none); with request buffering, at most the buffer.
    pub max_request_body: u64,
    /// Read the whole request body first.
    pub buffer_requests: bool,
    /// Read the whole response body first, up to this many bytes.
    pub buffer_responses: Option<u64>,
    /// The size of a buffered body the limit comes from (`memory`), for messages.
    pub memory: u64,
}

/// The smaller of two limits where 0 means none.
fn tighter(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

impl ServiceLimits {
    /// The response timeout of the service's requests.
    #[inline]
    pub fn response_timeout(&self, proxy: &Limits) -> Duration {
        self.response_timeout_ms
            .map_or(proxy.response_timeout, Duration::from_millis)
    }

    /// Can the fast path carry a request with a body of `body_len` bytes? It streams
    /// responses and reads request bodies whole, so: not when responses are buffered, nor
    /// when the body is over the service's request limit or buffer (the general path then
    /// answers 413).
    #[inline]
    pub fn fast_path_carries(&self, body_len: usize) -> bool {
        let Some(b) = &self.buffering else {
            return true;
        };
        if b.responses {
            return false;
        }
        let cap = match b.requests {
            true => tighter(b.max_request_body.unwrap_or(0), self.memory()),
            false => b.max_request_body.unwrap_or(0),
        };
        cap == 0 || body_len as u64 <= cap
    }

    fn memory(&self) -> u64 {
        self.buffering
            .as_ref()
            .and_then(|b| b.memory)
            .unwrap_or(dhow_proxy_api::DEFAULT_BUFFER_MEMORY)
            .max(1)
    }

    /// The limits of one request of the service.
    pub fn effective(&self, proxy: &Limits) -> Effective {
        let response_timeout = self.response_timeout(proxy);
        let memory = self.memory();
        let Some(b) = &self.buffering else {
            return Effective {
                response_timeout,
                max_request_body: proxy.max_body_bytes,
                buffer_requests: false,
                buffer_responses: None,
                memory,
            };
        };
        let max = b.max_request_body.unwrap_or(proxy.max_body_bytes);
        Effective {
            response_timeout,
            max_request_body: if b.requests {
                tighter(max, memory)
            } else {
                max
            },
            buffer_requests: b.requests,
            buffer_responses: b
                .responses
                .then(|| tighter(b.max_response_body.unwrap_or(0), memory)),
            memory,
        }
    }
}

/// A duration flag: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, `"1h30m"` (a bare number means
/// seconds): the grammar shared with the CLI and the config (`dhow_proxy_api::duration`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    dhow_proxy_api::duration::parse(s)
}

/// Why a request is refused before it reaches a target.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// 400: framing that two parsers could read differently.
    Ambiguous(&'static str),
    /// 413: the declared body is over the limit.
    TooLarge(u64),
}

/// Check the request's framing headers and declared size (`max_body`: 0 = no limit).
pub fn check(headers: &HeaderMap, max_body: u64) -> Result<(), Refusal> {
    let te = headers.get_all(TRANSFER_ENCODING).iter().count();
    let cl: Vec<_> = headers.get_all(CONTENT_LENGTH).iter().collect();
    if te > 0 && !cl.is_empty() {
        return Err(Refusal::Ambiguous(
            "both Content-Length and Transfer-Encoding are set",
        ));
    }
    if te > 1 {
        return Err(Refusal::Ambiguous(
            "Transfer-Encoding is set more than once",
        ));
    }
    let mut length = None;
    for v in &cl {
        let n = v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(Refusal::Ambiguous("Content-Length is not a number"))?;
        if length.is_some_and(|l| l != n) {
            return Err(Refusal::Ambiguous("Content-Length values differ"));
        }
        length = Some(n);
    }
    match length {
        Some(n) if max_body > 0 && n > max_body => Err(Refusal::TooLarge(n)),
        _ => Ok(()),
    }
}

/// A request body that fails once more than `max` bytes have passed, setting `tripped`; a
/// body the client framed wrongly (a bad chunk) sets `malformed`.
pub struct Capped {
    inner: Incoming,
    left: u64,
    limited: bool,
    pub tripped: Arc<AtomicBool>,
    pub malformed: Arc<AtomicBool>,
}

impl Capped {
    pub fn new(inner: Incoming, max: u64) -> Capped {
        Capped {
            inner,
            left: max,
            limited: max > 0,
            tripped: Arc::new(AtomicBool::new(false)),
            malformed: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug)]
pub struct BodyTooLarge;

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body over the limit")
    }
}

impl std::error::Error for BodyTooLarge {}

impl Body for Capped {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if self.limited {
                    if let Some(data) = frame.data_ref() {
                        let n = data.len() as u64;
                        if n > self.left {
                            self.tripped.store(true, Ordering::SeqCst);
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                        }
                        self.left -= n;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // Anything but the client going away or stalling is a body it framed wrongly.
                if !e.is_incomplete_message() && !e.is_timeout() {
                    self.malformed.store(true, Ordering::SeqCst);
                }
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86400)));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn framing_checks() {
        let l = 100;
        assert!(check(&headers(&[("content-length", "10")]), l).is_ok());
        assert!(check(&headers(&[("transfer-encoding", "chunked")]), l).is_ok());
        assert!(matches!(
            check(
                &headers(&[("content-length", "10"), ("transfer-encoding", "chunked")]),
                l
            ),
            Err(Refusal::Ambiguous(_))
        ));
        assert!(matches!(
            check(
                &headers(&[("content-length", "10"), ("content-length", "11")]),
                l
            ),
            Err(Refusal::Ambiguous(_))
        ));
        assert!(matches!(
            check(&headers(&[("content-length", "+10")]), l),
            Err(Refusal::Ambiguous(_))
        ));
        assert_eq!(
            check(&headers(&[("content-length", "101")]), l),
            Err(Refusal::TooLarge(101))
        );
    }
}
