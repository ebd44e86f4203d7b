//! Waiting for the proxy to answer on its control socket, and telling a socket the SSH user
//! may not use (a proxy an older dhow booted for root only) from one still being made.

use super::control::{self, HOST_SOCKET};
use super::layout::{CONTAINER, STATE_VOLUME};
use crate::docker::logs;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use hyper::Method;
use std::time::{Duration, Instant};

/// The control socket exists but the SSH user may not write to it.
async fn socket_denied(host: &HostConn) -> bool {
    let probe = format!("test -S {HOST_SOCKET} && ! test -w {HOST_SOCKET} && echo denied");
    host.shell
        .exec(&probe, None)
        .await
        .map(|o| o.stdout.trim() == "denied")
        .unwrap_or(false)
}

/// Wait until the proxy answers on its control socket.
pub async fn wait_ready(host: &HostConn, within: Duration) -> anyhow::Result<()> {
    wait_answer(host, within, Duration::ZERO).await
}

/// Wait until a proxy that was just started answers on its control socket. A socket left by
/// the proxy before it (perhaps one for root only) stays until the new one has its sockets
/// and routes back, so it says nothing for a while.
pub async fn wait_booted(host: &HostConn, within: Duration) -> anyhow::Result<()> {
    wait_answer(host, within, Duration::from_secs(15)).await
}

/// `wait_ready`, judging a socket the SSH user may not use only after `settle`.
async fn wait_answer(host: &HostConn, within: Duration, settle: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let last = match host.shell.open_unix(HOST_SOCKET).await {
            Ok(stream) => {
                match control::call(
                    stream,
                    Method::GET,
                    "/v1/health",
                    None,
                    Duration::from_secs(5),
                )
                .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("{e:#}"),
                }
            }
            Err(e) => {
                if start.elapsed() >= settle && socket_denied(host).await {
                    return Err(fail(
                        Kind::Remote,
                        format!(
                            "{}: the proxy's control socket {HOST_SOCKET} is there but {} may \
                             not use it: the proxy was booted by an older dhow, for root only. \
                             Upgrade it with `dhow proxy reboot` (or `docker rm -f {CONTAINER}` \
                             on the host, then deploy again); its routes are kept in the \
                             {STATE_VOLUME} volume, and requests fail for about a second while \
                             it is replaced",
                            host.name,
                            host.shell.label()
                        ),
                    ));
                }
                format!("{e:#}")
            }
        };
        if start.elapsed() > within {
            let logs = logs::stderr_tail(&host.docker, CONTAINER, 20).await;
            return Err(fail(
                Kind::Remote,
                format!(
                    "{}: dhow-proxy did not answer on {HOST_SOCKET} within {}s ({last}); its last log lines:\n{}",
                    host.name,
                    within.as_secs(),
                    logs.trim_end()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
