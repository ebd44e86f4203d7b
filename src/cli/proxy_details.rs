//! `dhow proxy details`: per host, the proxy container (running or not, its image beside the one
//! this dhow would boot, the settings it was started with beside the config's, its layout) and
//! the services it routes, with their certificates' state; with `--json` one `proxy` event per
//! host.

use super::context::Ctx;
use crate::docker::containers;
use crate::host::conn::HostConn;
use crate::proxy::layout;
use crate::proxy::on_host::{self as px, CONTAINER};
use hyper::Method;

pub async fn details(ctx: &Ctx, c: &HostConn, h: &str) -> anyhow::Result<()> {
    let say = |line: &str| ctx.out.host_line(h, "stdout", line);
    let info = match containers::inspect(&c.docker, CONTAINER).await {
        Ok(Some(i)) => i,
        Ok(None) | Err(_) => {
            let record = serde_json::json!({ "host": h, "booted": false, "running": false });
            ctx.out.data("proxy", &record, || {
                say("proxy: not booted (dhow deploy or dhow proxy boot boots it)")
            });
            return Ok(());
        }
    };
    let running = layout::running(&info);
    let held = layout::is_held(&info);
    let recorded = layout::recorded(&info);
    let configured = ctx.proxy_boot();
    let image = info.config.and_then(|c| c.image).unwrap_or_default();
    let ours = px::image_for(c, &configured).await.ok();
    if ctx.out.json {
        let services = if running {
            px::control(c, Method::GET, "/v1/services", None).await?["services"].clone()
        } else {
            serde_json::Value::Array(Vec::new())
        };
        ctx.out.event(
            "proxy",
            serde_json::json!({
                "host": h, "booted": true, "running": running, "image": image,
                "this_dhow_image": ours,
                "boot": configured.run_args(),
                "layout": if held { "port-holder" } else { "single-container" },
                "settings": recorded,
                "configured": configured,
                "services": services,
            }),
        );
        return Ok(());
    }
    say(&format!(
        "proxy: {} ({image}){}",
        if running { "running" } else { "stopped" },
        if ours.as_deref() == Some(image.as_str()) {
            ""
        } else {
            "; another image than this dhow's: `dhow proxy reboot` upgrades it"
        }
    ));
    say(&format!(
        "  settings: {}",
        recorded
            .as_ref()
            .map_or("not recorded (booted by an older dhow)".into(), describe)
    ));
    if recorded.as_ref() != Some(&configured) {
        say(&format!(
            "  the config says: {}; `dhow proxy reboot` applies it{}",
            describe(&configured),
            if held { " with no gap" } else { "" }
        ));
    }
    if !held {
        say("  layout: one container publishing the ports; `dhow proxy reboot` moves it to the zero-downtime layout (a gap of about a second, once)");
    }
    if !running {
        return Ok(());
    }
    let list = px::control(c, Method::GET, "/v1/services", None).await?;
    for s in list["services"].as_array().cloned().unwrap_or_default() {
        let hosts = s["hosts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "*".into());
        say(&format!(
            "  {} {}{} -> {} ({}, {})",
            s["name"].as_str().unwrap_or("?"),
            hosts,
            match s["path_prefixes"].as_array() {
                Some(all) => all
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                None => s["path_prefix"].as_str().unwrap_or("").to_string(),
            },
            s["target"].as_str().unwrap_or("?"),
            if s["healthy"].as_bool() == Some(true) {
                "healthy"
            } else {
                "not healthy yet"
            },
            s["mode"].as_str().unwrap_or("live"),
        ));
        // Several targets (replicas): each with its health and requests in flight.
        for t in s["targets"].as_array().into_iter().flatten() {
            say(&format!(
                "    target {}: {}, {} in flight",
                t["target"].as_str().unwrap_or("?"),
                if t["healthy"].as_bool() == Some(true) {
                    "healthy"
                } else {
                    "taken out (not answering)"
                },
                t["inflight"].as_u64().unwrap_or(0)
            ));
        }
        if let Some(names) = s["acme"].as_object() {
            for (name, st) in names {
                say(&format!("    certificate {name}: {}", acme_state(st)));
            }
        }
    }
    Ok(())
}

/// The boot settings on one line.
fn describe(o: &px::BootOptions) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    format!(
        "http {}, https {}, bind {}, metrics {}, debug {}, log rotated at {}{}",
        o.http_port,
        o.https_port.map_or("off".into(), |p| p.to_string()),
        if o.bind.is_empty() {
            "all addresses".into()
        } else {
            o.bind.join(",")
        },
        o.metrics_port.map_or("off".into(), |p| p.to_string()),
        on(o.debug),
        o.log_max_size,
        o.image
            .as_ref()
            .map(|i| format!(", image {i}"))
            .unwrap_or_default()
    )
}

/// One line for a host name's automatic certificate, from the proxy's `list`.
fn acme_state(st: &serde_json::Value) -> String {
    match st["state"].as_str().unwrap_or("?") {
        "valid" => {
            let days = st["expires"].as_u64().map(|t| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                t.saturating_sub(now) / 86_400
            });
            format!("valid, expires in {} days", days.unwrap_or(0))
        }
        "failed" => format!(
            "failed: {} (retrying in {}s)",
            st["error"].as_str().unwrap_or("no reason given"),
            st["retry_in_s"].as_u64().unwrap_or(0)
        ),
        other => other.to_string(),
    }
}
