//! `dhow-proxy hold`: the port holder. A small, long-lived process (its own container, which
//! publishes the host's ports) that opens the listening sockets once and hands them to every
//! proxy process that asks over a unix socket (`fd_pass.rs`). Connections queue in these
//! sockets whether or not a proxy process is accepting at that instant, so a proxy that is
//! restarted, killed or replaced by a new build never leaves a port without a listener: the
//! next process accepts what queued. Each address gets `per_port` SO_REUSEPORT sockets, one
//! per proxy data-plane thread, as if the proxy had bound them itself (see `server.rs`).
//!
//! Why not SO_REUSEPORT between two proxies and `tcp_migrate_req`: the two would have to share
//! one network namespace (a namespace container both join), and a proxy restarted by Docker
//! would still leave the port without a listener for its start-up time. Holding the sockets
//! in a process that never needs upgrading closes both gaps.

use crate::fd_pass;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// One address the holder listens on, as told to a proxy with its sockets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    /// What the proxy uses it for: `http`, `https` or `metrics`.
    pub name: String,
    pub addr: SocketAddr,
    /// How many sockets (descriptors, in order) belong to it.
    pub count: usize,
}

/// Parse `--listen NAME=ADDR`.
pub fn parse_listen(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected NAME=ADDRESS, like http=0.0.0.0:80"))?;
    if !matches!(name, "http" | "https" | "metrics") {
        return Err(format!("{name}: expected http, https or metrics"));
    }
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr}: expected an address and port, like 0.0.0.0:80"))?;
    Ok((name.to_string(), addr))
}

/// Open the sockets, then hand them to every process that connects to `socket`, until SIGTERM.
pub async fn hold(
    socket: &Path,
    listen: &[(String, SocketAddr)],
    per_port: usize,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut groups = Vec::new();
    let mut sockets = Vec::new();
    for (name, addr) in listen {
        // Metrics are scraped now and then: one socket is plenty.
        let count = if name == "metrics" {
            1
        } else {
            per_port.max(1)
        };
        for _ in 0..count {
            let l = crate::server::listen_reuseport(*addr)
                .with_context(|| format!("cannot listen on {addr} ({name})"))?;
            sockets.push(l.into_std()?);
        }
        groups.push(Group {
            name: name.clone(),
            addr: *addr,
            count,
        });
    }
    let fds: Vec<RawFd> = sockets.iter().map(|s| s.as_raw_fd()).collect();
    let mut payload = serde_json::to_vec(&groups)?;
    payload.push(b'\n');
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(socket);
    let unix = tokio::net::UnixListener::bind(socket)
        .with_context(|| format!("cannot bind {}", socket.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    }
    let described: Vec<String> = listen.iter().map(|(n, a)| format!("{n} {a}")).collect();
    tracing::info!(
        sockets = fds.len(),
        "holding the listening sockets ({}) for the proxy at {}",
        described.join(", "),
        socket.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = unix.accept() => {
                let Ok((mut stream, _)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                match fd_pass::send(&stream, &payload, &fds) {
                    Ok(()) => tracing::info!("listening sockets handed to a proxy process"),
                    Err(e) => tracing::warn!("could not hand the sockets over: {e}"),
                }
                // The connection stays open: a proxy learns that this holder is gone (and its
                // sockets with it) when it closes.
                tokio::spawn(async move {
                    let mut sink = [0u8; 64];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = std::fs::remove_file(socket);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn listen_flags_name_a_use_and_an_address() {
        let (n, a) = super::parse_listen("https=0.0.0.0:443").expect("parse");
        assert_eq!((n.as_str(), a.port()), ("https", 443));
        assert!(super::parse_listen("0.0.0.0:80").is_err());
        assert!(super::parse_listen("admin=0.0.0.0:80").is_err());
        assert!(super::parse_listen("http=localhost").is_err());
    }
}
