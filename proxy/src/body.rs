//! The body types of the proxy's hyper services and of its client for targets, and small
//! fixed bodies the proxy answers with itself.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};

/// Bodies the proxy answers clients with (a target's, streamed, or its own).
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Bodies sent to targets (a client's body may fail on the size limit).
pub type TargetBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A body of these bytes, whole.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}
