//! Replacing the proxy on a host (`dhow proxy reboot`, and a deploy that brings a new proxy
//! build) without a refused connection or a failed request. The new proxy starts beside the
//! old one as `dhow-proxy-next`, takes the same listening sockets from the port holder,
//! restores the routes and gets them healthy; then the old one hands over (stops accepting,
//! refuses route changes, gives each keep-alive connection a last answer with
//! `Connection: close`) and the new one is promoted to the control socket and the name
//! `dhow-proxy`. The old one finishes its connections as `dhow-proxy-old` and is removed.
//!
//! A proxy booted by an older dhow publishes the ports itself: moving it to this layout stops
//! it before the holder can take the ports, a gap of about a second, once. So does a change of
//! the published ports or addresses (the holder itself is replaced).

use super::layout::{self, CONTAINER, NEXT_CONTAINER, OLD_CONTAINER, PORTS_CONTAINER};
use super::on_host::{self, BootOptions};
use crate::docker::{containers, logs};
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use dhow_proxy_api::{HANDOVER_PATH, HOST_NEXT_SOCKET, HOST_SOCKET, PROMOTE_PATH, SERVICES_PATH};
use hyper::Method;
use std::time::{Duration, Instant};

/// A deploy that finds the proxy running another build than this dhow's (its digest differs)
/// replaces it with this one, keeping the settings it was started with (another app's config
/// may have chosen them; `dhow proxy reboot` applies this config's). Only where the
/// replacement has no gap: a proxy in the old layout is left for `dhow proxy reboot`.
pub async fn upgrade_if_older(
    host: &HostConn,
    running: &bollard::models::ContainerInspectResponse,
    options: &BootOptions,
    image: &super::image::ProxyImage,
) -> anyhow::Result<bool> {
    if !layout::is_held(running) {
        return Ok(false);
    }
    let settings = layout::recorded(running).unwrap_or_else(|| options.clone());
    let tag = on_host::image_for(host, &settings).await?;
    if layout::image_of(running).as_deref() == Some(tag.as_str()) {
        return Ok(false);
    }
    on_host::provide_image(host, &settings, &tag, image).await?;
    // Another deploy on this host may be upgrading it at the same time: its result will do.
    let done = replace_unless(host, &tag, &settings, &|_| {}, true).await?;
    Ok(done != Replaced::ByAnother)
}

/// How a replacement went.
#[derive(Debug, PartialEq)]
pub enum Replaced {
    /// There was no proxy: booted.
    Booted,
    /// Replaced with a gap (`why`): the time from stopping the old proxy to the new answering.
    WithGap { gap: Duration, why: String },
    /// Handed over with no gap; the old proxy's connections had finished after `drained`.
    HandedOver { drained: Duration },
    /// Another dhow replaced it with the same image meanwhile (an upgrade found done).
    ByAnother,
}

/// The longest a replaced proxy takes to finish: its lingering connections (the header
/// timeout), then in-flight requests (the grace), with room.
const OLD_FINISH: Duration = Duration::from_secs(100);

/// Replace the proxy on `host` with one from image `tag` started with `options`. `note` gets
/// a line for each step a user waits on.
pub async fn replace(
    host: &HostConn,
    tag: &str,
    options: &BootOptions,
    note: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Replaced> {
    replace_unless(host, tag, options, note, false).await
}

/// `replace`; with `upgrade`, nothing is done once another dhow has put image `tag` there.
async fn replace_unless(
    host: &HostConn,
    tag: &str,
    options: &BootOptions,
    note: &(dyn Fn(String) + Sync),
    upgrade: bool,
) -> anyhow::Result<Replaced> {
    crate::docker::network::ensure(&host.docker).await?;
    for _ in 0..10 {
        clear_leftovers(host, note).await?;
        if upgrade {
            let now = containers::inspect(&host.docker, CONTAINER).await?;
            if now.as_ref().and_then(layout::image_of).as_deref() == Some(tag) {
                on_host::wait_ready(host, Duration::from_secs(30)).await?;
                return Ok(Replaced::ByAnother);
            }
        }
        match replace_once(host, tag, options, note).await {
            // Another dhow created its dhow-proxy-next a moment before this one: wait for it,
            // then replace again (this config's settings, this dhow's image).
            Err(e)
                if format!("{e:#}")
                    .contains(&format!("\"/{NEXT_CONTAINER}\" is already in use")) =>
            {
                continue
            }
            done => return done,
        }
    }
    Err(fail(
        Kind::Remote,
        format!(
            "{}: other proxy replacements kept this one from starting",
            host.name
        ),
    ))
}

async fn replace_once(
    host: &HostConn,
    tag: &str,
    options: &BootOptions,
    note: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Replaced> {
    let current = containers::inspect(&host.docker, CONTAINER).await?;
    let holder = containers::inspect(&host.docker, PORTS_CONTAINER).await?;
    let Some(current) = current else {
        on_host::boot(host, tag, options).await?;
        on_host::wait_booted(host, Duration::from_secs(30)).await?;
        wait_healthy(host, None).await;
        return Ok(Replaced::Booted);
    };
    let why = if !layout::is_held(&current) {
        Some(
            "moving to the zero-downtime proxy layout (a port holder beside the proxy); this once"
                .to_string(),
        )
    } else {
        match &holder {
            Some(h) if layout::holder_key_of(h) != Some(options.holder_key()) => {
                Some("the published ports or addresses changed".to_string())
            }
            Some(h) if layout::running(h) && layout::running(&current) => None,
            Some(_) => Some("the proxy or its port holder was not running".to_string()),
            None => Some("the proxy's port holder was missing".to_string()),
        }
    };
    if let Some(why) = why {
        note(format!("replacing the proxy with a short gap: {why}"));
        // What serves now is what must serve again (a route whose target is gone holds
        // nothing up).
        let serving = serving_routes(host).await.ok();
        let started = Instant::now();
        containers::stop(&host.docker, CONTAINER, Duration::from_secs(30)).await?;
        containers::remove(&host.docker, CONTAINER).await?;
        if holder.is_some() {
            containers::stop(&host.docker, PORTS_CONTAINER, Duration::from_secs(10)).await?;
            containers::remove(&host.docker, PORTS_CONTAINER).await?;
        }
        on_host::boot(host, tag, options).await?;
        on_host::wait_booted(host, Duration::from_secs(30)).await?;
        wait_healthy(host, serving.as_deref()).await;
        return Ok(Replaced::WithGap {
            gap: started.elapsed(),
            why,
        });
    }
    hand_over(host, tag, options, note).await
}

/// The zero-downtime path: next beside current, handover, promote, rename, old finishes.
async fn hand_over(
    host: &HostConn,
    tag: &str,
    options: &BootOptions,
    note: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Replaced> {
    note("starting the new proxy beside the running one".into());
    on_host::boot_as(host, NEXT_CONTAINER, tag, options).await?;
    if let Err(e) = next_ready(host, note).await {
        let logs = logs::stderr_tail(&host.docker, NEXT_CONTAINER, 20).await;
        let _ = containers::stop(&host.docker, NEXT_CONTAINER, Duration::from_secs(5)).await;
        let _ = containers::remove(&host.docker, NEXT_CONTAINER).await;
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: the new proxy did not get ready ({e:#}); the running one keeps serving. \
                 Its last log lines:\n{}",
                host.name,
                logs.trim_end()
            ),
        ));
    }
    // The old proxy must not be started again once it has finished.
    containers::set_restart(&host.docker, CONTAINER, false).await?;
    on_host::control_at(host, HOST_SOCKET, Method::POST, HANDOVER_PATH, None).await?;
    let promoted =
        on_host::control_at(host, HOST_NEXT_SOCKET, Method::POST, PROMOTE_PATH, None).await;
    if let Err(e) = promoted {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: the new proxy serves traffic but did not take over the control socket \
                 ({e:#}); run `dhow proxy reboot` again",
                host.name
            ),
        ));
    }
    containers::rename(&host.docker, CONTAINER, OLD_CONTAINER).await?;
    containers::rename(&host.docker, NEXT_CONTAINER, CONTAINER).await?;
    note("new proxy serving; the old one is finishing its connections".into());
    let started = Instant::now();
    finish_old(host).await?;
    Ok(Replaced::HandedOver {
        drained: started.elapsed(),
    })
}

/// Wait for the replaced proxy to exit by itself (its connections done), then remove it.
async fn finish_old(host: &HostConn) -> anyhow::Result<()> {
    let deadline = Instant::now() + OLD_FINISH;
    loop {
        match containers::inspect(&host.docker, OLD_CONTAINER).await? {
            None => return Ok(()),
            Some(info) if !layout::running(&info) => break,
            Some(_) if Instant::now() > deadline => {
                containers::stop(&host.docker, OLD_CONTAINER, Duration::from_secs(10)).await?;
                break;
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    containers::remove(&host.docker, OLD_CONTAINER).await
}

/// What a replacement left: a stopped old proxy is removed, a running one gets its time to
/// finish; a `dhow-proxy-next` that still runs is another dhow's replacement under way, waited
/// for (2 minutes at most: one an interrupted dhow left behind is removed then). True when it
/// waited for another replacement.
async fn clear_leftovers(host: &HostConn, note: &(dyn Fn(String) + Sync)) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut waited = false;
    loop {
        match containers::inspect(&host.docker, NEXT_CONTAINER).await? {
            None => break,
            Some(info) if layout::running(&info) && Instant::now() < deadline => {
                if !waited {
                    note("another replacement of this proxy is under way; waiting for it".into());
                }
                waited = true;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some(_) => {
                let _ =
                    containers::stop(&host.docker, NEXT_CONTAINER, Duration::from_secs(5)).await;
                // Another dhow may be removing it at the same moment: look again.
                if containers::remove(&host.docker, NEXT_CONTAINER)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    }
    if containers::inspect(&host.docker, OLD_CONTAINER)
        .await?
        .is_some()
    {
        finish_old(host).await?;
    }
    Ok(waited)
}

/// The routes the proxy on the usual socket serves (healthy), by name.
async fn serving_routes(host: &HostConn) -> anyhow::Result<Vec<String>> {
    let list = on_host::control_at(host, HOST_SOCKET, Method::GET, SERVICES_PATH, None).await?;
    Ok(healthy_names(&list))
}

/// Names of the routes a proxy's list says are healthy.
fn healthy_names(list: &serde_json::Value) -> Vec<String> {
    list["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["healthy"].as_bool() == Some(true))
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

/// The replacement answers on its standby socket and every route the running proxy has healthy
/// is healthy in it too. A route whose target stopped answering (a container removed by hand:
/// the running proxy still counts it healthy) holds it up for 15 s at most, then is named.
async fn next_ready(host: &HostConn, note: &(dyn Fn(String) + Sync)) -> anyhow::Result<()> {
    let patience = Instant::now() + Duration::from_secs(15);
    let serving = serving_routes(host).await.unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let next = on_host::control_at(host, HOST_NEXT_SOCKET, Method::GET, SERVICES_PATH, None);
        let last = match next.await {
            Ok(list) => {
                let ready = healthy_names(&list);
                let waiting: Vec<&String> = serving.iter().filter(|n| !ready.contains(n)).collect();
                if waiting.is_empty() {
                    return Ok(());
                }
                if Instant::now() > patience {
                    note(format!(
                        "routes whose targets fail their health check: {waiting:?} (the running \
                         proxy could not serve them either); replacing anyway"
                    ));
                    return Ok(());
                }
                format!("routes not healthy in it yet: {waiting:?}")
            }
            Err(e) => format!("{e:#}"),
        };
        if let Some(info) = containers::inspect(&host.docker, NEXT_CONTAINER).await? {
            if !layout::running(&info) {
                anyhow::bail!("it exited");
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("{last}, after 60s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait (30 s at most) until the routes in `names` are healthy again on the usual socket
/// (restored routes are health-checked before they get traffic); none given: all of them.
async fn wait_healthy(host: &HostConn, names: Option<&[String]>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(list) =
            on_host::control_at(host, HOST_SOCKET, Method::GET, SERVICES_PATH, None).await
        {
            let ready = healthy_names(&list);
            let done = match names {
                Some(n) => n.iter().all(|x| ready.contains(x)),
                None => list["services"]
                    .as_array()
                    .is_none_or(|a| a.len() == ready.len()),
            };
            if done {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
