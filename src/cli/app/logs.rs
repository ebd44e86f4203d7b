//! `app logs` (and `proxy logs`): stream containers' output to the terminal, per host, until
//! the stream ends or (with --follow) Ctrl-C.

use super::super::context::Ctx;
use super::{AppLogsArgs, LogsArgs};
use crate::deploy::targets::Targets;
use crate::docker::containers;
use crate::docker::labels::LABEL_SERVICE;
use crate::docker::logs::{self, LogWindow};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use futures::StreamExt;
use std::collections::HashMap;

/// `app logs`: one container (--container-id) or all running ones.
pub(super) async fn app(
    ctx: &Ctx,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
    args: &AppLogsArgs,
) -> anyhow::Result<()> {
    match &args.container_id {
        Some(id) => one(ctx, plan, conns, id, &args.logs).await,
        None => all(ctx, plan, conns, &args.logs).await,
    }
}

/// The container `id` on each selected host that has it; it must be one of this app's
/// (by its service label), and at least one host must have it.
async fn one(
    ctx: &Ctx,
    plan: &Targets,
    conns: &HashMap<String, HostConn>,
    id: &str,
    args: &LogsArgs,
) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for host in plan.host_names() {
        let Some(conn) = conns.get(&host) else {
            continue;
        };
        let Some(info) = containers::inspect(&conn.docker, id).await? else {
            continue;
        };
        let service = info
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(LABEL_SERVICE).cloned());
        if service.as_deref() != Some(plan.service.as_str()) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{host}: container {id} is not one of {}'s containers (`dhow app containers` lists them)",
                    plan.service
                ),
            ));
        }
        let name = info.name.unwrap_or_default();
        found.push((conn.clone(), host, name.trim_start_matches('/').to_string()));
    }
    if found.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!("no selected host has a container {id} (`dhow app containers` lists them)"),
        ));
    }
    let tasks = found
        .iter()
        .map(|(conn, host, name)| logs(ctx, conn, host, name, args));
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    Ok(())
}

/// Every host's running app containers at once (with -f, all follow side by side).
async fn all(
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
        timestamps: args.timestamps,
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
