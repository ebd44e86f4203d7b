//! Opening a connection: TCP (or a `direct-tcpip` channel through a jump host), the SSH
//! handshake with host key checking, then authentication. The resulting [`Session`] is a
//! cheap handle; every exec and socket channel to that host runs over it.

use super::handler::SshHandler;
use super::known_hosts;
use super::{auth, errors, SshOptions, SshTarget};
use russh::client::{Config, Handle};
use russh::keys::Algorithm;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// Exec channels open at once on one connection (below OpenSSH's default MaxSessions 10).
const EXEC_CHANNELS: usize = 8;

/// An authenticated SSH connection to one host. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<SshHandler>,
    host: String,
    /// Limits concurrent exec channels: OpenSSH allows 10 sessions per connection
    /// (MaxSessions); more would be refused. Socket channels are not limited.
    exec_slots: tokio::sync::Semaphore,
    /// Remote port forwards of this connection (shared with the handler).
    forwards: super::forward::Forwards,
    /// Channels opened so far (exec + socket): each costs at least one round trip.
    channels: std::sync::atomic::AtomicUsize,
    /// The jump host's session, kept open as long as this one.
    _jump: Option<Session>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.host)
            .finish()
    }
}

impl Session {
    /// Connect to `target`: resolve it (deploy config, then the ssh config: `resolve.rs`),
    /// go through its jump hosts in order, check its host key, authenticate.
    pub async fn connect(target: &SshTarget, opts: &SshOptions) -> anyhow::Result<Session> {
        let r = super::resolve::resolve(target, opts)?;
        let mut via: Option<Session> = None;
        for hop in &r.jumps {
            // A jump host is looked up in the ssh config too, but its own ProxyJump is not
            // followed: the chain is the one given for the target.
            let hop_opts = SshOptions {
                proxy: None,
                ..opts.clone()
            };
            let h = super::resolve::resolve(hop, &hop_opts)?;
            via = Some(Box::pin(Session::open(&h, via)).await?);
        }
        Session::open(&r, via).await
    }

    /// Open the connection to a resolved host, directly or through `via`.
    async fn open(r: &super::resolve::Resolved, via: Option<Session>) -> anyhow::Result<Session> {
        let opts = &r.opts;
        let host = r.host.clone();
        let port = r.port;
        let user = r.user.clone();
        let config = Arc::new(client_config(opts, &host, port));
        let problem = Arc::new(Mutex::new(None));
        let forwards = super::forward::Forwards::default();
        let handler = SshHandler {
            forwards: forwards.clone(),
            host: host.clone(),
            port,
            known_hosts: opts.known_hosts.clone(),
            global_known_hosts: opts.global_known_hosts.clone(),
            policy: opts.policy,
            problem: problem.clone(),
        };
        let limit = opts.connect_timeout;

        let (handshake, jump) = match via {
            Some(jump) => {
                let open = jump.handle().channel_open_direct_tcpip(
                    host.clone(),
                    u32::from(port),
                    "127.0.0.1",
                    0,
                );
                let channel = match tokio::time::timeout(limit, open).await {
                    Ok(Ok(channel)) => channel,
                    Ok(Err(e)) => {
                        return Err(errors::unreachable(
                            &host,
                            port,
                            &format!(
                                "the jump host {} could not connect to it ({e})",
                                jump.host()
                            ),
                        ))
                    }
                    Err(_) => {
                        return Err(errors::timed_out(
                            &host,
                            port,
                            "connecting through the jump host",
                            limit,
                        ))
                    }
                };
                let fut = russh::client::connect_stream(config, channel.into_stream(), handler);
                (tokio::time::timeout(limit, fut).await, Some(jump))
            }
            None => {
                let tcp = tokio::time::timeout(
                    limit,
                    tokio::net::TcpStream::connect((host.as_str(), port)),
                );
                let stream = match tcp.await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(errors::unreachable(&host, port, &tcp_cause(&e))),
                    Err(_) => return Err(errors::timed_out(&host, port, "TCP connect", limit)),
                };
                let _ = stream.set_nodelay(true);
                let fut = russh::client::connect_stream(config, stream, handler);
                (tokio::time::timeout(limit, fut).await, None)
            }
        };

        let mut handle = match handshake {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                let refused = problem.lock().ok().and_then(|mut slot| slot.take());
                return Err(match refused {
                    Some(problem) => errors::host_key(&host, port, &problem),
                    None => errors::handshake(&host, port, &e),
                });
            }
            Err(_) => return Err(errors::timed_out(&host, port, "SSH handshake", limit)),
        };
        auth::authenticate(&mut handle, &user, &host, port, opts).await?;
        Ok(Session {
            inner: Arc::new(Inner {
                handle,
                host,
                exec_slots: tokio::sync::Semaphore::new(EXEC_CHANNELS),
                forwards,
                channels: std::sync::atomic::AtomicUsize::new(0),
                _jump: jump,
            }),
        })
    }

    /// The remote forwards table of this connection.
    pub(crate) fn forwards(&self) -> &super::forward::Forwards {
        &self.inner.forwards
    }

    /// The host name or address this session is connected to (as configured).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Wait for a free exec channel slot; hold the permit while the channel is open.
    pub(crate) async fn exec_slot(&self) -> anyhow::Result<tokio::sync::SemaphorePermit<'_>> {
        self.inner
            .exec_slots
            .acquire()
            .await
            .map_err(|e| errors::channel(&self.inner.host, "waiting for an exec channel", e))
    }

    /// How many channels (exec and socket) this connection has opened.
    pub fn channels_opened(&self) -> usize {
        self.inner
            .channels
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Count one channel open (called right before opening it).
    pub(crate) fn count_channel(&self) {
        self.inner
            .channels
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn handle(&self) -> &Handle<SshHandler> {
        &self.inner.handle
    }

    /// Close the connection politely (other clones become unusable).
    pub async fn close(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(russh::Disconnect::ByApplication, "bye", "en")
            .await;
    }
}

fn tcp_cause(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "connection timed out".into(),
        _ => e.to_string(),
    }
}

/// russh settings: keepalive, and the host key types already in known_hosts first (as
/// OpenSSH does) so a known host is not refused for presenting another key type.
fn client_config(opts: &SshOptions, host: &str, port: u16) -> Config {
    let mut config = Config {
        // ServerAliveInterval 0 (or keepalive = "0s") turns keepalives off, as in OpenSSH.
        keepalive_interval: Some(opts.keepalive_interval).filter(|d| !d.is_zero()),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    };
    let mut entries = known_hosts::read(&opts.known_hosts).unwrap_or_default();
    for global in &opts.global_known_hosts {
        entries.extend(known_hosts::read(global).unwrap_or_default());
    }
    let known = known_hosts::known_algorithms(&entries, host, port);
    if !known.is_empty() {
        let same_family = |a: &Algorithm| {
            known
                .iter()
                .any(|k| k == a || (k.clone().is_rsa() && a.clone().is_rsa()))
        };
        let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
            config.preferred.key.iter().cloned().partition(same_family);
        first.extend(rest);
        config.preferred.key = Cow::Owned(first);
    }
    config
}
