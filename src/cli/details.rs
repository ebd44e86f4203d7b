//! `dhow details`: per host, the Docker engine and API versions and the dhow containers
//! running there (label `dhow.service`), read through the Docker API over SSH; with `--json`
//! one `details` object per host.

use super::{hosts, Global};
use crate::docker::labels::{LABEL_ACCESSORY, LABEL_OWNER, LABEL_SERVICE};
use crate::docker::{containers, system};
use crate::error::{fail, kind_of};
use crate::host::ssh::Session;
use crate::output::Output;
use serde_json::json;

/// One host's answer (with `--json`, a `details` object).
#[derive(serde::Serialize)]
struct Details {
    host: String,
    docker_version: String,
    api_version: String,
    containers: Vec<Listed>,
}

/// A running dhow container: the app's (service set) or an accessory (accessory set).
#[derive(serde::Serialize)]
struct Listed {
    name: String,
    image: String,
    /// The engine's status line (`Up 3 minutes`).
    status: String,
    /// The app's service, or `<owner> (accessory <name>)`.
    service: String,
    /// The accessory's name, for accessories.
    accessory: Option<String>,
}

pub async fn run(global: &Global, out: &Output) -> anyhow::Result<()> {
    let hosts = hosts::load(global)?;
    let tasks = hosts.targets.iter().map(|target| {
        let (target, ssh) = (target.clone(), hosts.ssh.clone());
        async move {
            let result = async {
                let session = Session::connect(&target, &ssh).await?;
                let details = fetch(&session).await;
                session.close().await;
                details
            }
            .await;
            (target.host, result)
        }
    });
    let results = futures::future::join_all(tasks).await;

    let mut failed = Vec::new();
    let mut kind = None;
    for (host, result) in results {
        match result {
            Ok(mut d) => {
                // The host as the config names it (the session may know it by its HostName).
                d.host = host;
                out.data("details", &d, || show(out, &d));
            }
            Err(e) => {
                out.event(
                    "details",
                    json!({ "host": host, "error": format!("{e:#}") }),
                );
                failed.push(format!("{e:#}"));
                kind.get_or_insert(kind_of(&e));
            }
        }
    }
    match kind {
        None => Ok(()),
        Some(kind) => Err(fail(
            kind,
            format!(
                "cannot get details from {} host(s):\n  {}",
                failed.len(),
                failed.join("\n  ")
            ),
        )),
    }
}

async fn fetch(session: &Session) -> anyhow::Result<Details> {
    let host = session.host().to_string();
    let docker = crate::host::docker_tunnel::connect(session).await?;
    let remote = |e: anyhow::Error| fail(crate::error::Kind::Remote, format!("{host}: {e:#}"));
    let (engine, api) = system::version(&docker).await.map_err(remote)?;
    // App containers, then accessories (they carry their own labels, not dhow.service).
    let mut listed = Vec::new();
    for label in [LABEL_SERVICE, LABEL_ACCESSORY] {
        let list = containers::running_with_label(&docker, label)
            .await
            .map_err(remote)?;
        listed.extend(list.into_iter().map(|c| {
            let name = containers::first_name(&c);
            let labels = c.labels.unwrap_or_default();
            let accessory = labels.get(LABEL_ACCESSORY).cloned();
            let service = match &accessory {
                Some(acc) => format!(
                    "{} (accessory {acc})",
                    labels.get(LABEL_OWNER).cloned().unwrap_or_default()
                ),
                None => labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
            };
            Listed {
                name,
                image: c.image.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                service,
                accessory,
            }
        }));
    }
    Ok(Details {
        host,
        docker_version: engine,
        api_version: api,
        containers: listed,
    })
}

fn show(out: &Output, d: &Details) {
    let host = &d.host;
    out.host_line(
        host,
        "stdout",
        &format!("Docker {} (API {})", d.docker_version, d.api_version),
    );
    if d.containers.is_empty() {
        out.host_line(host, "stdout", "no dhow containers running");
        return;
    }
    let widest = |f: fn(&Listed) -> &str, min: usize| {
        d.containers
            .iter()
            .map(|c| f(c).len())
            .max()
            .unwrap_or(0)
            .max(min)
    };
    let width = widest(|c| &c.name, 4);
    let iwidth = widest(|c| &c.image, 5);
    let swidth = widest(|c| &c.service, 7);
    out.host_line(
        host,
        "stdout",
        &format!(
            "{:width$}  {:iwidth$}  {:swidth$}  STATUS",
            "NAME", "IMAGE", "SERVICE"
        ),
    );
    for c in &d.containers {
        out.host_line(
            host,
            "stdout",
            &format!(
                "{:width$}  {:iwidth$}  {:swidth$}  {}",
                c.name, c.image, c.service, c.status
            ),
        );
    }
}
