//! The russh client handler: checks the server's host key against known_hosts under the
//! configured policy and remembers why a key was refused, so the caller can say so.

use super::known_hosts::{self, Verdict};
use super::HostKeyPolicy;
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why the host key was refused (read by `connect` after the handshake failed).
#[derive(Debug, Clone)]
pub enum KeyProblem {
    Unknown {
        fingerprint: String,
        path: PathBuf,
    },
    Changed {
        fingerprint: String,
        path: PathBuf,
        line: usize,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
    Certificate,
    /// Accepted as new but could not be recorded.
    NotRecorded {
        path: PathBuf,
        error: String,
    },
}

/// The russh client handler of one connection: host-key checking and remote forwards.
pub struct SshHandler {
    pub host: String,
    pub port: u16,
    pub known_hosts: PathBuf,
    /// System-wide files (e.g. /etc/ssh/ssh_known_hosts): read, never written.
    pub global_known_hosts: Vec<PathBuf>,
    pub policy: HostKeyPolicy,
    pub problem: Arc<Mutex<Option<KeyProblem>>>,
    /// Remote forwards: port on the host -> local address its connections are carried to.
    pub forwards: super::forward::Forwards,
}

impl SshHandler {
    fn refuse(&self, problem: KeyProblem) -> bool {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = Some(problem);
        }
        false
    }

    fn verify(&self, key: &PublicKey) -> bool {
        if self.policy == HostKeyPolicy::Off {
            return true;
        }
        let mut files = match known_hosts::read(&self.known_hosts) {
            Ok(entries) => vec![(self.known_hosts.clone(), entries)],
            Err(e) => {
                return self.refuse(KeyProblem::Unreadable {
                    path: self.known_hosts.clone(),
                    error: e.to_string(),
                })
            }
        };
        // An unreadable system file is skipped, as OpenSSH does.
        for path in &self.global_known_hosts {
            if let Ok(entries) = known_hosts::read(path) {
                files.push((path.clone(), entries));
            }
        }
        let fingerprint = known_hosts::fingerprint(key);
        match known_hosts::check_all(&files, &self.host, self.port, key) {
            Verdict::Known => true,
            Verdict::Changed { path, line } => self.refuse(KeyProblem::Changed {
                fingerprint,
                path,
                line,
            }),
            Verdict::Unknown if self.policy == HostKeyPolicy::AcceptNew => {
                match known_hosts::append(&self.known_hosts, &self.host, self.port, key) {
                    Ok(()) => true,
                    Err(e) => self.refuse(KeyProblem::NotRecorded {
                        path: self.known_hosts.clone(),
                        error: e.to_string(),
                    }),
                }
            }
            Verdict::Unknown => self.refuse(KeyProblem::Unknown {
                fingerprint,
                path: self.known_hosts.clone(),
            }),
        }
    }
}

impl russh::client::Handler for SshHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => Ok(self.verify(key)),
            PublicKeyOrCertificate::Certificate(_) => Ok(self.refuse(KeyProblem::Certificate)),
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<russh::client::Msg>,
        _connected_address: &str,
        connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        // Dropping `reply` rejects connections to ports we did not ask to forward.
        if let Some(local) = self.forwards.target(connected_port) {
            reply.accept().await;
            tokio::spawn(super::forward::carry(channel, local));
        }
        Ok(())
    }
}
