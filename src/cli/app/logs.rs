//! `app logs` (and `proxy logs`): stream containers' output to the terminal, per host, until
//! the stream ends or (with --follow) Ctrl-C.

use super::super::context::Ctx;
use super::LogsArgs;
use crate::deploy::targets::Targets;
use crate::docker::logs::{self, LogWindow};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use futures::StreamExt;
use std::collections::HashMap;

/// Every host's running app containers at once (with -f, all follow side by side).
pub(super) async fn all(
    ctx: &Ctx,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
    args: &LogsArgs,
) -> anyhow::Result<()> {
    let mut streams = Vec::new();
    for (host, _role, list) in super::super::versions::inventory(plan, conns).await? {
        let Some(conn) = conns.get(&host) else {
            continue;
        };
        for c in list.into_iter().filter(|c| c.running) {
            streams.push((conn.clone(), host.clone(), c.name));
        }
    }
    let tasks = streams
        .iter()
        .map(|(conn, host, name)| logs(ctx, conn, host, name, args));
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    Ok(())
}

/// One container's logs on one host, filtered by --grep.
pub(crate) async fn logs(
    ctx: &Ctx,
    conn: &HostConn,
    host: &str,
    name: &str,
    args: &LogsArgs,
) -> anyhow::Result<()> {
    let grep = args.grep.as_deref();
    let window = LogWindow {
        lines: args.lines,
        follow: args.follow,
        since: args.since,
    };
    let mut stream = std::pin::pin!(logs::stream(&conn.docker, name, window));
    let mut cancel = ctx.cancel_signal();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(chunk)) => {
                    for line in chunk.lines() {
                        if grep.is_none_or(|g| line.contains(g)) {
                            ctx.out.host_line(host, "stdout", line);
                        }
                    }
                }
                Some(Err(e)) => return Err(fail(Kind::Remote, format!("{host}: {e:#}"))),
                None => return Ok(()),
            },
            _ = cancel.changed() => return Ok(()),
        }
    }
}
