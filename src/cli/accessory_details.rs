//! `dhow accessory details [NAME|all]`: per accessory and host, its container (state, the
//! image it runs beside the one the config names), its published port and its mounts; with
//! `--json` one `accessory` object per accessory and host (records.rs).

use super::context::Ctx;
use super::records::{Accessory, Mount, Port};
use crate::accessory::AccessorySettings;
use crate::host::conn::HostConn;

pub async fn details(ctx: &Ctx, conn: &HostConn, a: &AccessorySettings) {
    let record = fetch(conn, a).await;
    ctx.out.data("accessory", &record, || {
        for line in human(a, &record) {
            ctx.out
                .host_line(&conn.name, "stdout", &format!("{}: {line}", a.name));
        }
    });
}

/// What the host's engine says of the accessory's container (not booted when it has none or
/// does not answer).
async fn fetch(conn: &HostConn, a: &AccessorySettings) -> Accessory {
    let mut record = Accessory {
        host: conn.name.clone(),
        accessory: a.name.clone(),
        container: a.container.clone(),
        booted: false,
        running: false,
        state: None,
        image: None,
        config_image: a.image.clone(),
        port: a.port.as_ref().map(Port::from),
        mounts: Vec::new(),
    };
    let Ok(Some(info)) = crate::docker::containers::inspect(&conn.docker, &a.container).await
    else {
        return record;
    };
    let state = info.state.unwrap_or_default();
    record.booted = true;
    record.running = state.running == Some(true);
    record.state = Some(
        state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
    );
    record.image = Some(info.config.and_then(|c| c.image).unwrap_or_default());
    record.mounts = info
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| Mount {
            kind: m.typ.map(|t| t.to_string()),
            source: m.name.or(m.source).unwrap_or_default(),
            destination: m.destination.unwrap_or_default(),
        })
        .collect();
    record
}

/// The human lines (each printed as `HOST: NAME: line`).
fn human(a: &AccessorySettings, r: &Accessory) -> Vec<String> {
    let (Some(state), Some(image)) = (&r.state, &r.image) else {
        return vec![format!(
            "not booted (dhow accessory boot {} boots it)",
            a.name
        )];
    };
    let mut lines = vec![format!(
        "{} {state} ({image}){}",
        a.container,
        if *image == a.image {
            String::new()
        } else {
            format!(
                "; the config says {}: `dhow accessory reboot {}`",
                a.image, a.name
            )
        }
    )];
    if let Some(p) = &a.port {
        lines.push(format!("  port {p}"));
    }
    for m in &r.mounts {
        lines.push(format!("  mount {} -> {}", m.source, m.destination));
    }
    lines
}
