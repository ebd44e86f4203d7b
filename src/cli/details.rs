//! `dhow details`: per host, the Docker engine and API versions and the dhow containers
//! running there (label `dhow.service`), read through the Docker API over SSH.

use super::{hosts, Global};
use crate::docker::labels::{LABEL_ACCESSORY, LABEL_OWNER, LABEL_SERVICE};
use crate::docker::{containers, system};
use crate::error::{fail, kind_of};
use crate::host::ssh::Session;
use crate::output::Output;
use serde_json::json;

/// One host's answer.
struct Details {
    engine: String,
    api: String,
    /// (name, image, status, service)
    containers: Vec<[String; 4]>,
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
            Ok(d) => show(out, &host, &d),
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
            let service = match labels.get(LABEL_ACCESSORY) {
                Some(acc) => format!(
                    "{} (accessory {acc})",
                    labels.get(LABEL_OWNER).cloned().unwrap_or_default()
                ),
                None => labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
            };
            [
                name,
                c.image.unwrap_or_default(),
                c.status.unwrap_or_default(),
                service,
            ]
        }));
    }
    Ok(Details {
        engine,
        api,
        containers: listed,
    })
}

fn show(out: &Output, host: &str, d: &Details) {
    if out.json {
        let containers: Vec<_> = d
            .containers
            .iter()
            .map(|[name, image, status, service]| {
                json!({ "name": name, "image": image, "status": status, "service": service })
            })
            .collect();
        out.event(
            "details",
            json!({ "host": host, "docker_version": d.engine, "api_version": d.api, "containers": containers }),
        );
        return;
    }
    out.host_line(
        host,
        "stdout",
        &format!("Docker {} (API {})", d.engine, d.api),
    );
    if d.containers.is_empty() {
        out.host_line(host, "stdout", "no dhow containers running");
        return;
    }
    let width = d
        .containers
        .iter()
        .map(|c| c[0].len())
        .max()
        .unwrap_or(0)
        .max(4);
    let iwidth = d
        .containers
        .iter()
        .map(|c| c[1].len())
        .max()
        .unwrap_or(0)
        .max(5);
    let swidth = d
        .containers
        .iter()
        .map(|c| c[3].len())
        .max()
        .unwrap_or(0)
        .max(7);
    out.host_line(
        host,
        "stdout",
        &format!(
            "{:width$}  {:iwidth$}  {:swidth$}  STATUS",
            "NAME", "IMAGE", "SERVICE"
        ),
    );
    for [name, image, status, service] in &d.containers {
        out.host_line(
            host,
            "stdout",
            &format!("{name:width$}  {image:iwidth$}  {service:swidth$}  {status}"),
        );
    }
}
