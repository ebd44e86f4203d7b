//! Remote port forwarding (like `ssh -R`): the host's sshd listens on a loopback port and
//! every connection to it is carried over this SSH connection to an address on the deployer's
//! machine. dhow uses it so a host's Docker engine can pull from a registry that only listens
//! on the deployer's loopback (`localhost:5000`).

use super::Session;
use crate::error::{fail, Kind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Remote port -> local address, shared between a session and its handler.
#[derive(Clone, Default)]
pub struct Forwards(Arc<Mutex<HashMap<u32, String>>>);

impl Forwards {
    pub fn target(&self, port: u32) -> Option<String> {
        self.0.lock().ok().and_then(|m| m.get(&port).cloned())
    }

    fn insert(&self, port: u32, local: &str) -> bool {
        self.0
            .lock()
            .map(|mut m| m.insert(port, local.to_string()).is_none())
            .unwrap_or(false)
    }

    fn remove(&self, port: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&port);
        }
    }
}

/// Carry one forwarded connection to `local`.
pub async fn carry(channel: russh::Channel<russh::client::Msg>, local: String) {
    let connect = tokio::net::TcpStream::connect(&local);
    let Ok(Ok(mut tcp)) = tokio::time::timeout(Duration::from_secs(10), connect).await else {
        return;
    };
    let mut stream = channel.into_stream();
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp).await;
}

impl Session {
    /// Make the host's loopback port `remote_port` lead to `local` (e.g. `127.0.0.1:5000`) on
    /// this machine for as long as the connection lives. Asking twice is harmless.
    pub async fn forward_remote_port(&self, remote_port: u16, local: &str) -> anyhow::Result<()> {
        if !self.forwards().insert(u32::from(remote_port), local) {
            return Ok(());
        }
        let req = self
            .handle()
            .tcpip_forward("127.0.0.1", u32::from(remote_port));
        let answer = tokio::time::timeout(Duration::from_secs(15), req).await;
        if !matches!(answer, Ok(Ok(_))) {
            // Not forwarded: asking again (or for another port) must really ask.
            self.forwards().remove(u32::from(remote_port));
        }
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(fail(
                Kind::Remote,
                format!(
                    "{}: the host refused to forward its port {remote_port} to {local} ({e}); \
                     is the port in use there, or does its sshd_config refuse remote forwards (AllowTcpForwarding no or local, PermitListen)?",
                    self.host()
                ),
            )),
            Err(_) => Err(fail(
                Kind::Remote,
                format!(
                    "{}: no answer to the port forward request within 15s",
                    self.host()
                ),
            )),
        }
    }
}
