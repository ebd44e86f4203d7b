//! The SSH errors a user sees: what failed, on which host, and what to do next.

use super::handler::KeyProblem;
use super::known_hosts::host_key_name;
use crate::error::{fail, Kind};
use std::time::Duration;

/// The host could not be reached over TCP (or through the jump host).
pub fn unreachable(host: &str, port: u16, cause: &str) -> anyhow::Error {
    fail(
        Kind::Connection,
        format!(
            "cannot reach {host}:{port} over SSH: {cause}. Check that the host is up, that sshd \
             listens on port {port} and that no firewall blocks it (ssh.port in the config)"
        ),
    )
}

/// A connect step took longer than the connect timeout.
pub fn timed_out(host: &str, port: u16, step: &str, limit: Duration) -> anyhow::Error {
    unreachable(
        host,
        port,
        &format!("{step} timed out after {}s", limit.as_secs_f32()),
    )
}

/// The host key was refused; says why and how to fix it.
pub fn host_key(host: &str, port: u16, problem: &KeyProblem) -> anyhow::Error {
    let name = host_key_name(host, port);
    let message = match problem {
        KeyProblem::Unknown { fingerprint, path } => format!(
            "host key of {name} is unknown (not in {}) and the policy is strict; the host \
             presented {fingerprint}. Check it on the host (`ssh-keygen -lf \
             /etc/ssh/ssh_host_ed25519_key.pub`), then add it: `ssh-keyscan -p {port} {host} >> \
             {}` (or set ssh.known_hosts_policy = \"accept-new\" to record new hosts on first \
             connect)",
            path.display(),
            path.display()
        ),
        KeyProblem::Changed {
            fingerprint,
            path,
            line,
        } => format!(
            "HOST KEY CHANGED for {name}: the host presented {fingerprint}, which does not match \
             {}:{line}. Someone may be intercepting the connection. If the change is expected \
             (the server was reinstalled), remove the old entry with \
             `ssh-keygen -R \"{name}\" -f {}` and connect again",
            path.display(),
            path.display()
        ),
        KeyProblem::Unreadable { path, error } => format!(
            "cannot read the known_hosts file {} to check the host key of {name}: {error}",
            path.display()
        ),
        KeyProblem::Certificate => format!(
            "{name} presented a host certificate; dhow checks plain host keys only \
             (add the host's plain key to known_hosts)"
        ),
        KeyProblem::NotRecorded { path, error } => format!(
            "cannot record the new host key of {name} in {}: {error}",
            path.display()
        ),
    };
    fail(Kind::Connection, message)
}

/// Every offered key was refused.
pub fn auth_refused(
    user: &str,
    host: &str,
    port: u16,
    tried: &[String],
    notes: &[String],
) -> anyhow::Error {
    let tried = if tried.is_empty() {
        "no keys were available (no ssh-agent keys, no usable key files)".to_string()
    } else {
        format!("tried {}", tried.join(", "))
    };
    let mut message = format!(
        "authentication as {user} refused by {host}:{port}: {tried}. Add your public key to \
         ~{user}/.ssh/authorized_keys on the host, or set ssh.user / ssh.keys in the config"
    );
    for note in notes {
        message.push_str("; ");
        message.push_str(note);
    }
    fail(Kind::Connection, message)
}

/// The SSH handshake failed for another reason.
pub fn handshake(host: &str, port: u16, err: &russh::Error) -> anyhow::Error {
    fail(
        Kind::Connection,
        format!("SSH handshake with {host}:{port} failed: {err}"),
    )
}

/// A channel could not be opened or used on an established connection.
pub fn channel(host: &str, what: &str, err: impl std::fmt::Display) -> anyhow::Error {
    fail(Kind::Remote, format!("{host}: {what} failed: {err}"))
}
