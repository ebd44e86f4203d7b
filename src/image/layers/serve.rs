//! The read-only registry endpoint a host's engine pulls a prepared image from: the subset
//! of the OCI distribution pull API the engine uses (`GET /v2/`, `GET|HEAD` manifests by tag
//! or digest, `GET|HEAD` blobs with `Range`), on the deployer's loopback, one listener per
//! host so the bytes served are counted per host. Every connection is under a deadline.

use super::cache::Cache;
use super::export::Prepared;
use super::range::{self, Span};
use anyhow::Result;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// One connection may live this long (a pull of a large layer over a slow link included).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const CHUNK: usize = 64 * 1024;

type Body = BoxBody<Bytes, std::io::Error>;

/// What one host's listener serves and what it counted.
pub struct Registry {
    /// The repository path (`dhow/app`) and tag the host pulls.
    pub name: String,
    pub tag: String,
    pub prepared: Prepared,
    pub cache: Cache,
    /// Body bytes sent.
    pub served: AtomicU64,
    /// Blobs a body was sent for (config and layers).
    pub blobs_sent: Mutex<HashSet<String>>,
}

/// A running listener; stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listen on an ephemeral loopback port and serve `reg` until the result is dropped.
pub async fn start(reg: Arc<Registry>) -> Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let reg = reg.clone();
            conns.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let reg = reg.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(reg, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
                let _ = tokio::time::timeout(CONNECTION_DEADLINE, conn).await;
            });
        }
    });
    Ok(Running { addr, task })
}

fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r
}

fn not_found(code: &str) -> Response<Body> {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"not served here"}}]}}"#);
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
    r
}

async fn answer(reg: Arc<Registry>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return empty(405);
    }
    let path = req.uri().path().to_string();
    if path == "/v2/" || path == "/v2" {
        let mut r = empty(200);
        r.headers_mut().insert(
            "Docker-Distribution-API-Version",
            hyper::header::HeaderValue::from_static("registry/2.0"),
        );
        return r;
    }
    let Some(rest) = path.strip_prefix(&format!("/v2/{}/", reg.name)) else {
        return not_found("NAME_UNKNOWN");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        if reference != reg.tag && reference != reg.prepared.digest {
            return not_found("MANIFEST_UNKNOWN");
        }
        let bytes = Bytes::from(reg.prepared.manifest.clone());
        let len = bytes.len();
        if !head {
            reg.served.fetch_add(len as u64, Ordering::Relaxed);
        }
        let body = if head { Bytes::new() } else { bytes };
        let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed());
        let h = r.headers_mut();
        let value = |s: &str| hyper::header::HeaderValue::from_str(s).ok();
        for (k, v) in [
            ("Content-Type", value(reg.prepared.media_type)),
            ("Docker-Content-Digest", value(&reg.prepared.digest)),
            ("Content-Length", value(&len.to_string())),
        ] {
            if let Some(v) = v {
                h.insert(k, v);
            }
        }
        return r;
    }
    match rest.strip_prefix("blobs/") {
        Some(digest) => blob(&reg, digest, &req, head).await,
        None => not_found("UNSUPPORTED"),
    }
}

async fn blob(
    reg: &Arc<Registry>,
    digest: &str,
    req: &Request<hyper::body::Incoming>,
    head: bool,
) -> Response<Body> {
    let known = super::manifest::referenced(&reg.prepared.manifest);
    let Some(found) = known
        .iter()
        .any(|d| d == digest)
        .then(|| reg.cache.blob(digest))
        .flatten()
    else {
        return not_found("BLOB_UNKNOWN");
    };
    let header = req
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok());
    let span = range::parse(header, found.size);
    let (status, content_range, len) = span.answer(found.size);
    let start = match span {
        Span::Part { start, .. } => start,
        _ => 0,
    };
    let body = if head || len == 0 {
        Full::new(Bytes::new()).map_err(|e| match e {}).boxed()
    } else {
        match tokio::fs::File::open(reg.cache.blob_path(digest)).await {
            Ok(mut file) => {
                if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
                    return empty(500);
                }
                if let Ok(mut sent) = reg.blobs_sent.lock() {
                    sent.insert(digest.to_string());
                }
                file_body(file.take(len), reg.clone())
            }
            Err(_) => return empty(500),
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    let h = r.headers_mut();
    let value = |s: &str| hyper::header::HeaderValue::from_str(s).ok();
    let mut headers = vec![
        ("Content-Length", value(&len.to_string())),
        ("Docker-Content-Digest", value(digest)),
        ("Accept-Ranges", value("bytes")),
        ("Content-Type", value("application/octet-stream")),
    ];
    if let Some(cr) = content_range {
        headers.push(("Content-Range", value(&cr)));
    }
    for (k, v) in headers {
        if let Some(v) = v {
            h.insert(k, v);
        }
    }
    r
}

/// The file's bytes as a body, counted into `reg.served` as they go out.
fn file_body(file: tokio::io::Take<tokio::fs::File>, reg: Arc<Registry>) -> Body {
    let stream = futures::stream::unfold((file, reg), |(mut f, reg)| async move {
        let mut buf = vec![0u8; CHUNK];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                reg.served.fetch_add(n as u64, Ordering::Relaxed);
                Some((Ok(Frame::data(Bytes::from(buf))), (f, reg)))
            }
            Err(e) => Some((Err(e), (f, reg))),
        }
    });
    StreamBody::new(stream).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layers::manifest::{build, Compression};
    use tokio::io::AsyncWriteExt;

    /// One request on a fresh connection; returns the head and the body.
    async fn ask(addr: SocketAddr, req: &str) -> (String, Vec<u8>) {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut all))
            .await
            .unwrap()
            .unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
        (head, all[split + 4..].to_vec())
    }

    fn get(method: &str, path: &str, extra: &str) -> String {
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
    }

    #[tokio::test]
    async fn the_engine_api_subset_with_ranges_and_counted_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_path_buf()).unwrap();
        let config = cache.put_bytes(br#"{"rootfs":{"diff_ids":[]}}"#).unwrap();
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let layer = cache.put_bytes(&content).unwrap();
        let (_, manifest) = build(&config, &[(layer.clone(), Compression::Gzip)]);
        let prepared = Prepared::new(manifest.clone());
        let reg = Arc::new(Registry {
            name: "dhow/app".into(),
            tag: "v1".into(),
            prepared: prepared.clone(),
            cache,
            served: AtomicU64::new(0),
            blobs_sent: Mutex::new(HashSet::new()),
        });
        let running = start(reg.clone()).await.unwrap();
        let a = running.addr;

        let (head, _) = ask(a, &get("GET", "/v2/", "")).await;
        assert!(
            head.starts_with("http/1.1 200") && head.contains("registry/2.0"),
            "{head}"
        );
        let (head, body) = ask(a, &get("HEAD", "/v2/dhow/app/manifests/v1", "")).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains(&prepared.digest) && body.is_empty(), "{head}");
        assert_eq!(reg.served.load(Ordering::Relaxed), 0);
        let by_digest = format!("/v2/dhow/app/manifests/{}", prepared.digest);
        let (_, body) = ask(a, &get("GET", &by_digest, "")).await;
        assert_eq!(body, manifest);
        let (head, _) = ask(a, &get("GET", "/v2/dhow/app/manifests/v2", "")).await;
        assert!(head.starts_with("http/1.1 404"), "{head}");

        let blob_path = format!("/v2/dhow/app/blobs/{}", layer.digest);
        let (head, body) = ask(a, &get("GET", &blob_path, "Range: bytes=60000-\r\n")).await;
        assert!(head.starts_with("http/1.1 206"), "{head}");
        assert!(
            head.contains("content-range: bytes 60000-99999/100000"),
            "{head}"
        );
        assert_eq!(body, content[60_000..]);
        assert_eq!(
            reg.served.load(Ordering::Relaxed),
            manifest.len() as u64 + 40_000
        );
        let (head, body) = ask(a, &get("GET", &blob_path, "")).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body, content);
        let (head, _) = ask(a, &get("GET", &blob_path, "Range: bytes=100000-\r\n")).await;
        assert!(head.starts_with("http/1.1 416"), "{head}");
        // A blob the manifest does not name is not served, even when the cache has it.
        let other = reg.cache.put_bytes(b"another image's layer").unwrap();
        let path = format!("/v2/dhow/app/blobs/{}", other.digest);
        let (head, _) = ask(a, &get("GET", &path, "")).await;
        assert!(head.starts_with("http/1.1 404"), "{head}");
        assert_eq!(
            reg.blobs_sent.lock().unwrap().iter().collect::<Vec<_>>(),
            vec![&layer.digest]
        );
    }
}
