//! Copy an image from one engine to another without a registry: the source engine's
//! `docker save` stream is fed straight into the destination's `docker load` (for dhow, the
//! destination is a host's engine through the SSH tunnel). Nothing is buffered whole; an
//! image the destination already has (same ID) is not sent again.

use super::reference;
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::query_parameters::{ImportImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No byte sent and no message from the destination for this long: give up.
const IDLE: Duration = Duration::from_secs(10 * 60);
/// The destination answers a load only after it has unpacked the whole archive.
const LOAD_REQUEST_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);
/// How often progress is reported while bytes flow.
const TICK: Duration = Duration::from_millis(500);

/// Progress of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// The destination already has the image (same ID); nothing is sent.
    AlreadyPresent { id: String },
    /// Bytes of the image archive sent so far.
    Sent { bytes: u64 },
    /// A message from the destination engine (`Loaded image: app:v1`).
    Message(String),
}

/// Copy `image_ref` from `src` to `dst`. Returns the number of bytes sent (0 when the
/// destination already had it). Afterwards `dst` has `image_ref` with the source's ID.
pub async fn copy(
    src: &Docker,
    dst: &Docker,
    image_ref: &str,
    mut progress: impl FnMut(TransferEvent),
) -> Result<u64> {
    let source = src.inspect_image(image_ref).await.map_err(|e| {
        fail(
            Kind::Usage,
            format!(
                "cannot send {image_ref}: the source engine does not have it ({}); build it first",
                docker::message(&e)
            ),
        )
    })?;
    let id = source.id.unwrap_or_default();

    if already_there(dst, image_ref, &id).await? {
        progress(TransferEvent::AlreadyPresent { id });
        return Ok(0);
    }

    let sent = Arc::new(AtomicU64::new(0));
    let export_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let counter = sent.clone();
    let error_slot = export_error.clone();
    let body = src.export_image(image_ref).map(move |chunk| match chunk {
        Ok(bytes) => {
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes)
        }
        Err(e) => {
            let text = docker::message(&e);
            if let Ok(mut slot) = error_slot.lock() {
                *slot = Some(text.clone());
            }
            Err(std::io::Error::other(text))
        }
    });
    let loader = dst.clone().with_timeout(LOAD_REQUEST_TIMEOUT);
    let options = ImportImageOptionsBuilder::default().quiet(false).build();
    let mut responses = loader.import_image_stream(options, body, None);

    let mut ticker = tokio::time::interval(TICK);
    let mut last_bytes = 0;
    let mut last_change = Instant::now();
    loop {
        tokio::select! {
            item = responses.next() => {
                last_change = Instant::now();
                match item {
                    None => break,
                    Some(Ok(info)) => {
                        if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                            let text = text.trim();
                            if !text.is_empty() {
                                progress(TransferEvent::Message(text.to_string()));
                            }
                        }
                    }
                    Some(Err(err)) => {
                        let local = export_error.lock().ok().and_then(|s| s.clone());
                        return Err(load_error(image_ref, &err, local));
                    }
                }
            }
            _ = ticker.tick() => {
                let now = sent.load(Ordering::Relaxed);
                if now != last_bytes {
                    last_bytes = now;
                    last_change = Instant::now();
                    progress(TransferEvent::Sent { bytes: now });
                } else if last_change.elapsed() > IDLE {
                    return Err(fail(
                        Kind::Remote,
                        format!(
                            "sending {image_ref}: no progress for {} minutes after {now} bytes; \
                             check the connection to the host",
                            IDLE.as_secs() / 60
                        ),
                    ));
                }
            }
        }
    }
    let total = sent.load(Ordering::Relaxed);
    progress(TransferEvent::Sent { bytes: total });

    let loaded = dst.inspect_image(image_ref).await.map_err(|e| {
        fail(
            Kind::Remote,
            format!(
                "sent {image_ref} ({total} bytes) but the host's engine does not list it: {}",
                docker::message(&e)
            ),
        )
    })?;
    if loaded.id.as_deref() != Some(id.as_str()) {
        return Err(fail(
            Kind::Remote,
            format!(
                "sent {image_ref} but the host's engine has it as {} instead of {id}",
                loaded.id.unwrap_or_default()
            ),
        ));
    }
    Ok(total)
}

/// True when `dst` has the image with ID `id`, under `image_ref` or under any name (then
/// `image_ref` is added as a tag).
pub(crate) async fn already_there(dst: &Docker, image_ref: &str, id: &str) -> Result<bool> {
    match dst.inspect_image(image_ref).await {
        Ok(found) if found.id.as_deref() == Some(id) => return Ok(true),
        Ok(_) => {}
        Err(e) if docker::is_not_found(&e) => {}
        Err(e) => {
            return Err(fail(
                Kind::Remote,
                format!(
                    "cannot look up {image_ref} on the host's engine: {}",
                    docker::message(&e)
                ),
            ))
        }
    }
    match dst.inspect_image(id).await {
        Ok(_) => {
            let (repo, tag) = reference::split_tag(image_ref);
            let options = TagImageOptionsBuilder::default()
                .repo(repo)
                .tag(tag.unwrap_or("latest"))
                .build();
            dst.tag_image(id, Some(options)).await.map_err(|e| {
                fail(
                    Kind::Remote,
                    format!(
                        "the host has image {id} but tagging it {image_ref} failed: {}",
                        docker::message(&e)
                    ),
                )
            })?;
            Ok(true)
        }
        Err(e) if docker::is_not_found(&e) => Ok(false),
        Err(e) => Err(fail(
            Kind::Remote,
            format!(
                "cannot look up image {id} on the host's engine: {}",
                docker::message(&e)
            ),
        )),
    }
}

fn load_error(
    image_ref: &str,
    err: &bollard::errors::Error,
    export_error: Option<String>,
) -> anyhow::Error {
    match export_error {
        Some(local) => fail(
            Kind::Remote,
            format!("sending {image_ref} failed while reading it from the source engine: {local}"),
        ),
        None => fail(
            Kind::Remote,
            format!(
                "the host's engine could not load {image_ref}: {}; check its disk space and \
                 Docker logs",
                docker::message(err)
            ),
        ),
    }
}
