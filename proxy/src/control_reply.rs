//! The control plane's JSON answers: a body with its status, or a 200.

use crate::body::ProxyBody;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// A JSON answer. The wire types always serialize; should one not, the client gets a 500.
pub fn reply<T: Serialize>(status: StatusCode, body: &T) -> Response<ProxyBody> {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(b) => (status, b),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":"the proxy could not write its answer"}"#.to_vec(),
        ),
    };
    let mut r = Response::new(
        Full::new(Bytes::from(bytes))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A 200 with `body`.
pub fn ok<T: Serialize>(body: &T) -> Response<ProxyBody> {
    reply(StatusCode::OK, body)
}
