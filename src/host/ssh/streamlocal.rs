//! `direct-streamlocal` channels: a byte stream to a unix socket on the host (the Docker
//! socket, the proxy's control socket), and HTTP/1.1 requests sent over one.

use super::errors;
use super::Session;
use crate::error::{fail, Kind};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A stream to a unix socket on the remote host (AsyncRead + AsyncWrite).
pub type UnixStream = russh::ChannelStream<russh::client::Msg>;

impl Session {
    /// Open a stream to the unix socket `path` on the host, over this connection.
    pub async fn open_unix(&self, path: &str) -> anyhow::Result<UnixStream> {
        self.count_channel();
        let open = self.handle().channel_open_direct_streamlocal(path);
        match tokio::time::timeout(std::time::Duration::from_secs(30), open).await {
            Ok(Ok(channel)) => Ok(channel.into_stream()),
            Ok(Err(e)) => Err(fail(
                Kind::Remote,
                format!(
                    "{}: cannot open the unix socket {path} on the host: {e}",
                    self.host()
                ),
            )),
            Err(_) => Err(errors::channel(
                self.host(),
                &format!("opening {path}"),
                "timed out after 30s",
            )),
        }
    }

    /// Send one HTTP/1.1 request to the unix socket `path` on the host and return the
    /// response (its body streams; upgrades such as Docker attach work). A fresh channel
    /// carries each request, so concurrent requests do not wait for each other.
    pub async fn http_unix<B>(
        &self,
        path: &str,
        req: Request<B>,
    ) -> anyhow::Result<Response<Incoming>>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = self.open_unix(path).await?;
        send_http(stream, req)
            .await
            .map_err(|e| errors::channel(self.host(), &format!("HTTP over {path}"), e))
    }
}

/// Send `req` over an already-open stream with hyper's HTTP/1.1 client. The request is
/// rewritten to origin form (`/path?query`) with a `Host` header, as unix-socket servers expect.
pub async fn send_http<S, B>(stream: S, req: Request<B>) -> Result<Response<Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let (mut parts, body) = req.into_parts();
    let host = parts
        .uri
        .host()
        .map(str::to_string)
        .unwrap_or_else(|| "localhost".into());
    if let Some(pq) = parts.uri.path_and_query() {
        if let Ok(uri) = pq.as_str().parse() {
            parts.uri = uri;
        }
    }
    if !parts.headers.contains_key(hyper::header::HOST) {
        if let Ok(value) = host.parse() {
            parts.headers.insert(hyper::header::HOST, value);
        }
    }
    sender.send_request(Request::from_parts(parts, body)).await
}
