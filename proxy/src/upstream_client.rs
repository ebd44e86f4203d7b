//! The pooled HTTP/1.1 client the general path and the health checks use to reach targets
//! (names resolved by `dns`, no glibc resolver), one pool per data-plane thread for requests,
//! and the reason a request to a target failed, in a few words.

use crate::body::TargetBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A client for targets.
pub type UpstreamClient =
    hyper_util::client::legacy::Client<HttpConnector<crate::dns::Resolver>, TargetBody>;

/// A new pooled client for targets.
pub fn build() -> UpstreamClient {
    let mut connector = HttpConnector::new_with_resolver(crate::dns::Resolver);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build(connector)
}

thread_local! {
    /// Each data-plane thread has its own pool of target connections, so a request and the
    /// target connection carrying it are served by the same thread (no cross-thread wake-ups).
    static LOCAL_CLIENT: UpstreamClient = build();
}

/// Send `req` on this thread's pool.
pub fn request_here(req: hyper::Request<TargetBody>) -> hyper_util::client::legacy::ResponseFuture {
    LOCAL_CLIENT.with(|c| c.request(req))
}

/// The response of [`request_here`].
pub type UpstreamResult = Result<hyper::Response<Incoming>, hyper_util::client::legacy::Error>;

/// Why a request to a target failed, in a few words (the innermost cause).
pub fn connect_reason(e: &hyper_util::client::legacy::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}
