//! The answers the general path makes itself: short text responses (its errors and refusals),
//! the maintenance page of a stopped service, and the redirect from plain HTTP to HTTPS.

use crate::body::{full, ProxyBody};
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

/// A `text/plain` answer of `msg` and a line end.
pub fn text(status: StatusCode, msg: &str) -> Response<ProxyBody> {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

/// As `text`, and the connection closes after it (its next bytes cannot be trusted).
pub fn text_and_close(status: StatusCode, msg: &str) -> Response<ProxyBody> {
    let mut r = text(status, msg);
    r.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    r
}

/// The page a stopped service answers with: its own (`own`, the message in it already), or
/// the proxy's.
pub fn maintenance(message: Option<&str>, own: Option<String>) -> Response<ProxyBody> {
    use crate::traffic::pages::{html_escape, DEFAULT_MESSAGE};
    let page = own.unwrap_or_else(|| {
        let msg = html_escape(message.unwrap_or(DEFAULT_MESSAGE));
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Maintenance</title></head>\
             <body><h1>Maintenance</h1><p>{msg}</p></body></html>\n"
        )
    });
    let mut r = Response::new(full(page));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("retry-after", HeaderValue::from_static("60"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

/// 308 to the same host and path on HTTPS.
pub fn redirect_to_https(host: &str, port: u16, uri: &hyper::Uri) -> Response<ProxyBody> {
    let name = crate::policy::host::name(host);
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{name}{port}{pq}");
    let mut r = text(
        StatusCode::PERMANENT_REDIRECT,
        &format!("moved to {location}"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert("location", v);
    }
    r
}

/// The key authorization an ACME server validating an HTTP-01 challenge asks for.
pub fn acme_answer(answer: String) -> Response<ProxyBody> {
    let mut resp = Response::new(full(answer));
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}
