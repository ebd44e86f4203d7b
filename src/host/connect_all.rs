//! Connecting to every selected host at once: one SSH connection per host, in parallel, with
//! the Docker API tunnelled over it. All or nothing: when any host does not answer, none of
//! the connections is handed out and the error names every failing host, so a command never
//! changes some hosts and not others because one was down.
//!
//! Time limits are the connection's own (`SshOptions::connect_timeout` for TCP connect,
//! handshake and authentication, each; the tunnel's per-request timeout for the Docker API).

use super::conn::HostConn;
use super::ssh::{Session, SshOptions, SshTarget};
use crate::error::{fail, kind_of, Kind};
use std::collections::HashMap;
use std::sync::Arc;

/// Connections keyed by host name (as the user wrote it).
pub type HostConns = HashMap<String, HostConn>;

/// Connect to each `(name, target)` with `ssh`; every host must answer.
pub async fn connect_all(
    hosts: &[(String, SshTarget)],
    ssh: &SshOptions,
) -> anyhow::Result<HostConns> {
    let tasks = hosts
        .iter()
        .map(|(name, target)| connect_one(name, target, ssh));
    let results = futures::future::join_all(tasks).await;
    gather(hosts.iter().map(|(name, _)| name.clone()).zip(results))
}

/// One host: its SSH session and the Docker API over it.
pub async fn connect_one(
    name: &str,
    target: &SshTarget,
    ssh: &SshOptions,
) -> anyhow::Result<HostConn> {
    let started = std::time::Instant::now();
    let session = Session::connect(target, ssh).await?;
    let docker = super::docker_tunnel::connect(&session).await?;
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        host = name,
        ms,
        "{name}: connected over SSH, Docker API tunnelled ({ms} ms)"
    );
    Ok(HostConn {
        name: name.to_string(),
        shell: Arc::new(session),
        docker,
    })
}

/// All connections, or one error naming each host that failed (its kind: the last one's).
fn gather(
    results: impl Iterator<Item = (String, anyhow::Result<HostConn>)>,
) -> anyhow::Result<HostConns> {
    let mut conns = HashMap::new();
    let mut failures = Vec::new();
    let mut kind = Kind::Connection;
    for (host, r) in results {
        match r {
            Ok(c) => {
                conns.insert(host, c);
            }
            Err(e) => {
                kind = kind_of(&e);
                failures.push(format!("{e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        return Err(fail(
            kind,
            format!(
                "cannot reach every host, so nothing was changed:\n  {}\n(use -h to leave a host out)",
                failures.join("\n  ")
            ),
        ));
    }
    Ok(conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failing_host_fails_all_and_each_failure_is_named() {
        let results = vec![
            (
                "web1".to_string(),
                Err(fail(Kind::Connection, "web1: connection refused")),
            ),
            (
                "web2".to_string(),
                Err(fail(Kind::Remote, "web2: permission denied (publickey)")),
            ),
        ];
        let err = gather(results.into_iter()).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "cannot reach every host, so nothing was changed:\n  web1: connection refused\n  \
             web2: permission denied (publickey)\n(use -h to leave a host out)"
        );
        assert_eq!(kind_of(&err), Kind::Remote);
    }

    #[test]
    fn no_hosts_is_no_connections() {
        assert!(gather(std::iter::empty()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_host_is_a_connection_error() {
        // A port on this machine nothing listens on: refused at once, no network needed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let target = SshTarget::parse(&format!("127.0.0.1:{port}")).unwrap();
        let opts = SshOptions {
            connect_timeout: std::time::Duration::from_secs(5),
            ..SshOptions::default()
        };
        let err = connect_all(&[("local".into(), target)], &opts)
            .await
            .unwrap_err();
        assert!(
            format!("{err}").starts_with("cannot reach every host"),
            "{err}"
        );
        assert_eq!(kind_of(&err), Kind::Connection);
    }
}
