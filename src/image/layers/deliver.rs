//! Delivering a local image to one host's engine by sending only the layers it lacks: the
//! image is prepared once per deploy into the blob cache ([`Source`]), then for each host:
//!
//! 1. staged (`stage.rs`): the missing layers are appended to files on the host over its SSH
//!    connection, from what an earlier cut attempt left there, and the host's `docker load`
//!    reads them; this is the one that resumes a cut delivery where it stopped;
//! 2. else pulled: a private listener of the read-only registry endpoint (`serve.rs`) is
//!    started, the host's loopback port is forwarded to it over the host's SSH connection (the
//!    caller's `forward`, since image/ knows nothing of SSH), and the host's engine pulls the
//!    image from `127.0.0.1:PORT` (Docker reaches 127.0.0.0/8 registries over plain HTTP by
//!    default), asking for the blobs it does not have. For engines that keep images in
//!    containerd's store, or hosts without a `docker` command. The pulled image is tagged with
//!    the deploy's name and the temporary name removed;
//! 3. else the whole image is streamed (`transfer.rs`), and the outcome says so and why.

use super::cache::Cache;
use super::export::{self, Prepared};
use super::serve::{self, Registry};
use super::stage::{self, HostFiles};
use crate::docker;
use crate::error::{fail, Kind};
use crate::image::{reference, registry, transfer};
use anyhow::Result;
use bollard::query_parameters::TagImageOptionsBuilder;
use bollard::Docker;
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The repository the hosts pull under, on their own loopback, before the image gets its name.
const REPOSITORY: &str = "dhow-delivery/image";
/// How often the bytes served are reported while a pull runs.
const TICK: Duration = Duration::from_millis(500);
/// Remote ports tried for the forward: a range few services use, spread per process.
const PORTS: std::ops::Range<u16> = 41_000..49_000;
/// Ports tried before giving up on the endpoint (another may be in use on the host).
const PORT_ATTEMPTS: usize = 3;

/// The image of one deploy, prepared on first need and shared by every host.
pub struct Source {
    image_ref: String,
    ready: OnceCell<std::result::Result<Arc<Ready>, String>>,
}

struct Ready {
    prepared: Prepared,
    cache: Cache,
    image_id: String,
}

/// How the image reached one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The host had it (same ID); nothing was sent.
    AlreadyThere,
    /// The host's engine pulled what it lacked from the endpoint.
    Layers {
        /// Body bytes the endpoint sent this host (manifest, config and layers).
        sent: u64,
        layers_sent: usize,
        layers_total: usize,
        /// The compressed size of the whole image (what a pull of everything would send).
        image_bytes: u64,
        /// Bytes of layers an earlier, cut delivery had left on the host (not sent again).
        resumed: u64,
    },
    /// The whole image was streamed (`docker save` into `docker load`) because `why`.
    Streamed { sent: u64, why: String },
}

impl Outcome {
    pub fn sent(&self) -> u64 {
        match self {
            Outcome::AlreadyThere => 0,
            Outcome::Layers { sent, .. } | Outcome::Streamed { sent, .. } => *sent,
        }
    }

    /// The outcome as `--json` reports it (`how`: `already-there`, `layers` or `stream`).
    pub fn fields(&self) -> serde_json::Value {
        match self {
            Outcome::AlreadyThere => serde_json::json!({ "how": "already-there", "bytes": 0 }),
            Outcome::Layers {
                sent,
                layers_sent,
                layers_total,
                image_bytes,
                resumed,
            } => serde_json::json!({
                "how": "layers", "bytes": sent, "layers_sent": layers_sent,
                "layers_total": layers_total, "image_bytes": image_bytes,
                "resumed_bytes": resumed,
            }),
            Outcome::Streamed { sent, why } => {
                serde_json::json!({ "how": "stream", "bytes": sent, "why": why })
            }
        }
    }

    /// One line for the host's progress row.
    pub fn summary(&self) -> String {
        match self {
            Outcome::AlreadyThere => "image already there".into(),
            Outcome::Layers {
                sent,
                layers_sent,
                layers_total,
                image_bytes,
                resumed,
            } => {
                let mut line = format!(
                    "sent {layers_sent} of {layers_total} layers ({} of {}), {} already there",
                    mb(*sent),
                    mb(*image_bytes),
                    layers_total - layers_sent
                );
                if *resumed > 0 {
                    line.push_str(&format!(
                        "; {} were there from a cut delivery",
                        mb(*resumed)
                    ));
                }
                line
            }
            Outcome::Streamed { sent, why } => {
                format!("streamed the whole image ({}) because {why}", mb(*sent))
            }
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Source {
    pub fn new(image_ref: &str) -> Source {
        Source {
            image_ref: image_ref.to_string(),
            ready: OnceCell::new(),
        }
    }

    pub fn image_ref(&self) -> &str {
        &self.image_ref
    }

    /// Export the local image into the cache (once; later callers wait for the first).
    async fn ready(&self, local: &Docker) -> std::result::Result<Arc<Ready>, String> {
        self.ready
            .get_or_init(|| async {
                let prepare = async {
                    let id = local
                        .inspect_image(&self.image_ref)
                        .await
                        .map_err(|e| {
                            fail(
                                Kind::Usage,
                                format!(
                                    "the local engine does not have {}: {}",
                                    self.image_ref,
                                    docker::message(&e)
                                ),
                            )
                        })?
                        .id
                        .unwrap_or_default();
                    let cache = Cache::open(Cache::default_root()?)?;
                    let prepared = export::prepare(local, &self.image_ref, &id, &cache).await?;
                    Ok::<_, anyhow::Error>(Arc::new(Ready {
                        prepared,
                        cache,
                        image_id: id,
                    }))
                };
                prepare.await.map_err(|e| format!("{e:#}"))
            })
            .await
            .clone()
    }
}

/// Bring `source`'s image to `dst` (a host's engine): only its missing layers, staged through
/// `files` (when given) or pulled from the endpoint, else the whole image. `forward(port,
/// local)` must make the host's loopback `port` lead to `local` on this machine; `sent` gets
/// the bytes sent so far.
pub async fn deliver<F, Fut>(
    source: &Source,
    local: &Docker,
    dst: &Docker,
    files: Option<&dyn HostFiles>,
    forward: F,
    sent: &(dyn Fn(u64) + Send + Sync),
) -> Result<Outcome>
where
    F: Fn(u16, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let image_ref = source.image_ref.as_str();
    let why = match source.ready(local).await {
        Ok(ready) => {
            if transfer::already_there(dst, image_ref, &ready.image_id).await? {
                return Ok(Outcome::AlreadyThere);
            }
            let mut why = String::new();
            if let Some(files) = files {
                match staged(&ready, image_ref, dst, files, sent).await {
                    Ok(outcome) => return Ok(outcome),
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "staged delivery failed; pulling");
                        why = format!("staging its layers failed ({e:#}) and ");
                    }
                }
            }
            match pull_layers(&ready, image_ref, dst, &forward, sent).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) => format!("{why}the host could not pull from dhow's endpoint: {e:#}"),
            }
        }
        Err(e) => format!("preparing its layers failed: {e}"),
    };
    let streamed = transfer::copy(local, dst, image_ref, |ev| {
        if let transfer::TransferEvent::Sent { bytes } = ev {
            sent(bytes)
        }
    })
    .await;
    match streamed {
        Ok(total) => Ok(Outcome::Streamed { sent: total, why }),
        // Both ways failed: the first cause is usually the one to act on.
        Err(e) => Err(fail(
            Kind::Remote,
            format!("{why}; streaming the whole image instead failed too: {e:#}"),
        )),
    }
}

/// Stage the missing layers on the host and have its `docker load` read them.
async fn staged(
    ready: &Ready,
    image_ref: &str,
    dst: &Docker,
    files: &dyn HostFiles,
    sent: &(dyn Fn(u64) + Send + Sync),
) -> Result<Outcome> {
    let done =
        stage::stage_and_load(&ready.prepared, &ready.cache, image_ref, dst, files, sent).await?;
    Ok(Outcome::Layers {
        sent: done.sent,
        layers_sent: done.layers_sent,
        layers_total: done.layers_total,
        image_bytes: image_bytes(&ready.prepared, &ready.cache),
        resumed: done.resumed,
    })
}

/// The compressed size of the whole image: manifest, config and every layer.
fn image_bytes(prepared: &Prepared, cache: &Cache) -> u64 {
    super::manifest::referenced(&prepared.manifest)
        .iter()
        .filter_map(|d| cache.blob(d))
        .map(|b| b.size)
        .sum::<u64>()
        + prepared.manifest.len() as u64
}

/// Serve the prepared image to this host alone and have its engine pull it.
async fn pull_layers<F, Fut>(
    ready: &Ready,
    image_ref: &str,
    dst: &Docker,
    forward: &F,
    sent: &(dyn Fn(u64) + Send + Sync),
) -> Result<Outcome>
where
    F: Fn(u16, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let (_, tag) = reference::split_tag(image_ref);
    let tag = tag.unwrap_or("latest").to_string();
    let reg = Arc::new(Registry {
        name: REPOSITORY.to_string(),
        tag: tag.clone(),
        prepared: ready.prepared.clone(),
        cache: ready.cache.clone(),
        served: AtomicU64::new(0),
        blobs_sent: Mutex::new(HashSet::new()),
    });
    let running = serve::start(reg.clone()).await?;
    let port = forward_some_port(forward, &running.addr.to_string()).await?;
    let temp = format!("127.0.0.1:{port}/{REPOSITORY}:{tag}");
    let pull = registry::pull(dst, &temp, None, |_| {});
    tokio::pin!(pull);
    let mut tick = tokio::time::interval(TICK);
    let pulled = loop {
        tokio::select! {
            r = &mut pull => break r,
            _ = tick.tick() => sent(reg.served.load(Ordering::Relaxed)),
        }
    };
    drop(running);
    pulled?;
    let by_digest = format!("127.0.0.1:{port}/{REPOSITORY}@{}", reg.prepared.digest);
    name_it(dst, &temp, &by_digest, image_ref).await?;
    let refs = super::manifest::referenced(&reg.prepared.manifest);
    let layers: Vec<&String> = refs.iter().skip(1).collect();
    let blobs_sent = reg.blobs_sent.lock().map(|s| s.clone()).unwrap_or_default();
    let total = reg.served.load(Ordering::Relaxed);
    sent(total);
    Ok(Outcome::Layers {
        sent: total,
        layers_sent: layers.iter().filter(|d| blobs_sent.contains(**d)).count(),
        layers_total: layers.len(),
        image_bytes: image_bytes(&reg.prepared, &reg.cache),
        resumed: 0,
    })
}

/// Forward a free-looking remote port to `local`, trying another when the host refuses one.
async fn forward_some_port<F, Fut>(forward: &F, local: &str) -> Result<u16>
where
    F: Fn(u16, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = PORTS.start + (std::process::id() as u16 % (PORTS.end - PORTS.start));
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        let n = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(97);
        let port = PORTS.start + (base - PORTS.start).wrapping_add(n) % (PORTS.end - PORTS.start);
        match forward(port, local.to_string()).await {
            Ok(()) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| fail(Kind::Internal, "no port was tried")))
}

/// Give the pulled image its deploy name and drop the temporary references (its tag and its
/// digest: either left behind would keep the image when dhow later prunes it by name).
async fn name_it(dst: &Docker, temp: &str, by_digest: &str, image_ref: &str) -> Result<()> {
    let (repo, tag) = reference::split_tag(image_ref);
    let options = TagImageOptionsBuilder::default()
        .repo(repo)
        .tag(tag.unwrap_or("latest"))
        .build();
    tokio::time::timeout(Duration::from_secs(60), dst.tag_image(temp, Some(options)))
        .await
        .map_err(|_| fail(Kind::Remote, format!("tagging {image_ref} timed out")))?
        .map_err(|e| {
            fail(
                Kind::Remote,
                format!(
                    "tagging the pulled image {image_ref}: {}",
                    docker::message(&e)
                ),
            )
        })?;
    // Untagging only: the image keeps its deploy name.
    let _ = docker::images::remove(dst, temp).await;
    let _ = docker::images::remove(dst, by_digest).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_say_what_was_sent_and_why() {
        let layers = Outcome::Layers {
            sent: 1_500_000,
            layers_sent: 1,
            layers_total: 4,
            image_bytes: 200_000_000,
            resumed: 0,
        };
        assert_eq!(
            layers.summary(),
            "sent 1 of 4 layers (1.5 MB of 200.0 MB), 3 already there"
        );
        let streamed = Outcome::Streamed {
            sent: 3_000_000,
            why: "the port forward was refused".into(),
        };
        assert!(streamed
            .summary()
            .contains("whole image (3.0 MB) because the port"));
        assert_eq!(Outcome::AlreadyThere.sent(), 0);
    }

    #[tokio::test]
    async fn a_refused_port_is_retried_on_another() {
        let tried = Mutex::new(Vec::new());
        let forward = |port: u16, _local: String| {
            let n = {
                let mut t = tried.lock().unwrap();
                t.push(port);
                t.len()
            };
            async move {
                if n < 2 {
                    Err(fail(Kind::Remote, "in use"))
                } else {
                    Ok(())
                }
            }
        };
        let port = forward_some_port(&forward, "127.0.0.1:1").await.unwrap();
        let tried = tried.lock().unwrap().clone();
        assert_eq!(tried.len(), 2);
        assert_ne!(tried[0], tried[1]);
        assert_eq!(port, tried[1]);
        assert!(tried.iter().all(|p| PORTS.contains(p)));
        let always = |_: u16, _: String| async { Err(fail(Kind::Remote, "refused")) };
        let err = forward_some_port(&always, "x").await.unwrap_err();
        assert!(format!("{err:#}").contains("refused"));
    }
}
