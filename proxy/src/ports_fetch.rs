//! A proxy process's side of the port holder (`ports_holder.rs`): fetch the listening sockets
//! at start (waiting for the holder, which may start after this process when a host boots),
//! and notice when the holder goes away (its sockets then get no more connections).

use crate::ports_holder::Group;
use anyhow::Context;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// The sockets a holder handed over, by use.
pub struct Held {
    pub http: Vec<std::net::TcpListener>,
    pub https: Vec<std::net::TcpListener>,
    pub metrics: Option<std::net::TcpListener>,
    /// The connection to the holder: it closes when the holder stops.
    link: UnixStream,
}

/// Connect to the holder at `path` (retrying for up to `wait`) and take its sockets.
pub fn fetch(path: &Path, wait: Duration) -> anyhow::Result<Held> {
    let deadline = Instant::now() + wait;
    let link = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!(
                        "no port holder answered at {} within {}s (is the dhow-proxy-ports \
                         container running?)",
                        path.display(),
                        wait.as_secs()
                    )
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    link.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (payload, fds) =
        crate::fd_pass::recv(&link, 64 * 1024).context("receiving the listening sockets")?;
    link.set_read_timeout(None)?;
    let line = payload.split(|b| *b == b'\n').next().unwrap_or_default();
    let groups: Vec<Group> =
        serde_json::from_slice(line).context("the port holder's description of its sockets")?;
    let total: usize = groups.iter().map(|g| g.count).sum();
    if total != fds.len() {
        anyhow::bail!(
            "the port holder described {total} sockets but handed over {}",
            fds.len()
        );
    }
    let mut fds = fds.into_iter();
    let mut held = Held {
        http: Vec::new(),
        https: Vec::new(),
        metrics: None,
        link,
    };
    for g in groups {
        let group: Vec<std::net::TcpListener> = fds
            .by_ref()
            .take(g.count)
            .map(std::net::TcpListener::from)
            .collect();
        for l in &group {
            l.set_nonblocking(true)?;
        }
        match g.name.as_str() {
            "http" => held.http = group,
            "https" => held.https = group,
            "metrics" => held.metrics = group.into_iter().next(),
            other => tracing::warn!("the port holder offered sockets for {other}: not used"),
        }
    }
    if held.http.is_empty() {
        anyhow::bail!("the port holder at {} holds no http socket", path.display());
    }
    Ok(held)
}

impl Held {
    /// The address of the first socket of a use, for logs.
    pub fn addr_of(group: &[std::net::TcpListener]) -> Option<std::net::SocketAddr> {
        group.first().and_then(|l| l.local_addr().ok())
    }

    /// Resolve once the holder is gone (its connection closed).
    pub fn holder_gone(&self) -> anyhow::Result<impl std::future::Future<Output = ()>> {
        let link = self.link.try_clone()?;
        link.set_nonblocking(true)?;
        let mut link = tokio::net::UnixStream::from_std(link)?;
        Ok(async move {
            let mut sink = [0u8; 64];
            while matches!(link.read(&mut sink).await, Ok(n) if n > 0) {}
        })
    }
}
