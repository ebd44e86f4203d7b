//! The end of a general-path request: what its log line and its counters need, kept from its
//! start ([`Done`]), written when the proxy answered itself or when the target's response body
//! has been sent ([`Guarded`], which also keeps the target's in-flight count until then).

use super::rewrite::X_REQUEST_ID;
use crate::access_log;
use crate::body::ProxyBody;
use crate::proxy::Proxy;
use crate::stats::{InflightStat, Stats};
use crate::upstream::{InflightGuard, Upstream};
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Response, StatusCode};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// What the request log line and the metrics need, written once the response is done.
/// Its fields share the request's own buffers (no copies on the request path).
pub struct Done {
    proxy: Arc<Proxy>,
    pub stats: Arc<Stats>,
    method: hyper::Method,
    pub host: HeaderValue,
    uri: hyper::Uri,
    pub status: StatusCode,
    started: Instant,
    pub target: Option<Arc<Upstream>>,
    pub id: HeaderValue,
    /// The routed service's traffic settings, when it has its own error pages.
    pub pages: Option<Arc<crate::traffic::ServiceTraffic>>,
    /// With a canary: the counters of the side the request went to.
    pub side: Option<Arc<Stats>>,
    /// A canary's cookie for a new client, set on the response.
    pub set_cookie: Option<HeaderValue>,
}

impl Done {
    /// A request that came in at `started`: its host (over HTTP/2 `:authority`, else the
    /// Host header; the other one when it lacks that, port included) and its id (the
    /// client's when `policy` accepts it, else a new one).
    pub fn start(proxy: &Arc<Proxy>, req: &Request<Incoming>, started: Instant) -> Done {
        let header = || {
            req.headers()
                .get(HOST)
                .filter(|h| h.to_str().is_ok())
                .cloned()
        };
        let authority = || {
            req.uri()
                .authority()
                .map(|a| crate::policy::host::of_authority(a.as_str()))
                .and_then(|a| HeaderValue::from_str(a).ok())
        };
        let host = match req.version() {
            hyper::Version::HTTP_2 => authority().or_else(header),
            _ => header().or_else(authority),
        }
        .unwrap_or(HeaderValue::from_static(""));
        let id = match req.headers().get(X_REQUEST_ID) {
            Some(id) if crate::policy::accept_request_id(id.as_bytes()) => id.clone(),
            _ => new_request_id(proxy),
        };
        Done {
            proxy: proxy.clone(),
            stats: proxy.metrics.unrouted.clone(),
            method: req.method().clone(),
            host,
            uri: req.uri().clone(),
            status: StatusCode::OK,
            started,
            target: None,
            id,
            pages: None,
            side: None,
            set_cookie: None,
        }
    }

    pub fn host(&self) -> &str {
        self.host.to_str().unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.uri.path()
    }

    fn finish(self, bytes: u64) {
        let took = self.started.elapsed();
        self.stats.observe(self.status.as_u16(), took);
        if let Some(side) = &self.side {
            side.observe(self.status.as_u16(), took);
        }
        if !self.proxy.log {
            return;
        }
        access_log::write(&access_log::Entry {
            method: self.method.as_str(),
            host: self.host(),
            path: self.path(),
            status: self.status.as_u16(),
            bytes,
            started: self.started,
            target: self.target.as_ref().map_or("-", |t| t.addr.as_str()),
            id: self.id.to_str().unwrap_or("-"),
        });
    }

    /// Finish now with a response the proxy made itself.
    /// A plain 502/503/504 becomes the service's own page, when it has one.
    pub fn answer(mut self, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
        if let Some(t) = &self.pages {
            resp = super::traffic::with_error_page(t, resp);
        }
        self.status = resp.status();
        if let Some(c) = self.set_cookie.take() {
            resp.headers_mut().append(hyper::header::SET_COOKIE, c);
        }
        let bytes = resp.body().size_hint().exact().unwrap_or(0);
        self.finish(bytes);
        resp
    }
}

fn new_request_id(proxy: &Proxy) -> HeaderValue {
    let mut id = String::new();
    proxy.write_request_id(&mut id);
    HeaderValue::from_maybe_shared(Bytes::from(id)).unwrap_or(HeaderValue::from_static("-"))
}

/// A response body that keeps its target's in-flight count until it is fully sent, counts
/// its bytes, and logs the request when it is done (or the client went away).
pub struct Guarded<B> {
    inner: B,
    _guard: InflightGuard,
    _inflight: InflightStat,
    bytes: u64,
    done: Option<Done>,
}

impl<B> Guarded<B> {
    pub fn new(inner: B, guard: InflightGuard, inflight: InflightStat, done: Done) -> Self {
        Guarded {
            inner,
            _guard: guard,
            _inflight: inflight,
            bytes: 0,
            done: Some(done),
        }
    }
}

impl<B> Drop for Guarded<B> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.finish(self.bytes);
        }
    }
}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin> Body for Guarded<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
