//! SSH to the servers (russh): one connection per host carries every channel.
//!
//! - [`Session::connect`] opens and authenticates a connection (directly or through a jump
//!   host), checking the host key against a known_hosts file.
//! - Exec channels run shell commands with streamed output and an exit status (`exec.rs`).
//! - `direct-streamlocal` channels reach unix sockets on the host, e.g. the Docker socket or
//!   the proxy's control socket (`streamlocal.rs`), and carry HTTP over them.

mod auth;
mod connect;
#[cfg(all(test, feature = "e2e"))]
mod e2e_tests;
mod errors;
mod exec;
mod files;
mod forward;
mod handler;
mod interactive;
mod key_data;
pub mod known_hosts;
mod resolve;
pub mod ssh_config;
mod streamlocal;

pub use connect::Session;
pub use interactive::terminal_attached;
pub use key_data::KeyData;
// Public API for deploy/setup (other areas); not all of it is used by the CLI yet.
#[allow(unused_imports)]
pub use exec::{ExecOutput, OutputStream};
#[allow(unused_imports)]
pub use streamlocal::UnixStream;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What to do with the host key a server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys are refused (the default).
    #[default]
    Strict,
    /// Unknown keys are accepted and appended to known_hosts; changed keys are refused.
    AcceptNew,
    /// No checking at all (only for throwaway test hosts).
    Off,
}

/// A host to connect to: `[user@]host[:port]`. Missing parts come from [`SshOptions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// A target with only a host name or address.
    #[allow(dead_code)] // for callers that build targets from the config
    pub fn host(host: impl Into<String>) -> Self {
        Self {
            user: None,
            host: host.into(),
            port: None,
        }
    }

    /// Parse `[user@]host[:port]`; an IPv6 address with a port is written `[addr]:port`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return None,
            None => (None, s),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (h.to_string(), port)
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':')?;
            (h.to_string(), Some(p.parse().ok()?))
        } else {
            (rest.to_string(), None)
        };
        if host.is_empty() {
            return None;
        }
        Some(Self { user, host, port })
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A jump host (like OpenSSH's ProxyJump): the target is reached through it.
pub type JumpHost = SshTarget;

/// How to connect: defaults for every host plus keys, host key checking and timeouts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Login user when the target names none.
    pub user: String,
    /// Port when the target names none.
    pub port: u16,
    /// Private key files; empty means ~/.ssh/id_ed25519, id_ecdsa, id_rsa (those that exist).
    pub keys: Vec<PathBuf>,
    /// Private keys held in memory (from secrets: `ssh.key_data`), tried after the agent.
    pub key_data: Vec<KeyData>,
    /// Also offer the keys held by ssh-agent (SSH_AUTH_SOCK).
    pub use_agent: bool,
    /// Offer only agent keys that match a key file or key_data key (IdentitiesOnly).
    pub identities_only: bool,
    /// The known_hosts file checked (and appended to under accept-new).
    pub known_hosts: PathBuf,
    /// System-wide known_hosts files, read (never written) beside `known_hosts`.
    pub global_known_hosts: Vec<PathBuf>,
    /// The user's ssh config (`ssh.config`), applied per host under the values below.
    pub ssh_config: Option<std::sync::Arc<ssh_config::SshConfigFile>>,
    /// Which values were set in the deploy config (they win over the ssh config).
    pub explicit: Explicit,
    pub policy: HostKeyPolicy,
    /// Connect through this jump host.
    pub proxy: Option<JumpHost>,
    /// Limit for TCP connect, handshake and authentication, each.
    pub connect_timeout: Duration,
    /// Keepalive interval; after 3 unanswered keepalives the connection is closed.
    pub keepalive_interval: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        let home = home_dir();
        Self {
            user: "root".into(),
            port: 22,
            keys: Vec::new(),
            key_data: Vec::new(),
            use_agent: true,
            identities_only: false,
            known_hosts: home.join(".ssh").join("known_hosts"),
            global_known_hosts: vec![PathBuf::from("/etc/ssh/ssh_known_hosts")],
            ssh_config: None,
            explicit: Explicit::default(),
            policy: HostKeyPolicy::Strict,
            proxy: None,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}

/// Which [`SshOptions`] values the deploy config set (not dhow's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explicit {
    pub user: bool,
    pub port: bool,
    pub keys: bool,
    pub keepalive: bool,
    pub connect_timeout: bool,
}

/// The user's home directory ($HOME), or `/` if unset.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = SshTarget::parse("deploy@10.0.0.1:2222").unwrap();
        assert_eq!(t.user.as_deref(), Some("deploy"));
        assert_eq!(t.host, "10.0.0.1");
        assert_eq!(t.port, Some(2222));
        let t = SshTarget::parse("example.com").unwrap();
        assert_eq!((t.user, t.port), (None, None));
        let t = SshTarget::parse("[::1]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
        let t = SshTarget::parse("::1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", None));
        assert!(SshTarget::parse("host:notaport").is_none());
        assert!(SshTarget::parse("@host").is_none());
        assert_eq!(SshTarget::parse("u@h:22").unwrap().to_string(), "u@h:22");
    }
}
