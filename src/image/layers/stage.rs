//! Resumable delivery of the layers a host lacks: each missing compressed layer is appended to
//! a file on the host (`~/.dhow/.layers/<hex>.part`, over an exec channel of the host's SSH
//! connection), from the size already there, so a delivery cut after 4 of 12 MB sends only
//! the last 8 MB when it runs again; a finished file is checked against its digest and renamed
//! `<hex>`. Then the host's own `docker load` reads an archive of the image's config, a
//! `manifest.json` and only the staged layers: Docker's loader (its classic image store) skips
//! every layer whose chain ID the engine already has without opening its file.
//!
//! Staged files left by a delivery that never completed are removed after 7 days.
//!
//! Which layers the host has is read from the images of the same repository on its engine
//! (their layer lists give the chain IDs there), so the first deploy of an app sends every
//! layer and later ones only what changed. Hosts whose engine keeps images in containerd's
//! store, or that have no `docker` command, cannot load a partial archive; the caller then
//! uses the engine's own pull (`deliver.rs`).
//!
//! image/ knows nothing of SSH: the caller passes a [`HostFiles`] that runs the commands.

use super::cache::Cache;
use super::export::Prepared;
use super::manifest;
use super::stage_cmd::{self, quote};
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::Docker;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

/// Where staged layers live, relative to the SSH user's home.
pub const DIR: &str = ".dhow/.layers";
/// A layer upload that moves no byte for this long has stalled (the connection is gone).
const STALL: Duration = Duration::from_secs(60);
/// How long `docker load` of the staged layers may take.
const LOAD_DEADLINE: Duration = Duration::from_secs(1800);
/// How long the small commands (probe, check, write, clean) may take.
const SHORT: Duration = Duration::from_secs(120);

/// What a command on the host returned.
pub struct Ran {
    pub status: u32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs commands on one host (implemented over its SSH connection by deploy/).
pub trait HostFiles: Send + Sync {
    /// Run `cmd` (with `stdin`, then EOF) as `step`, failing after `deadline`.
    fn run<'a>(
        &'a self,
        step: &'a str,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<Ran>>;

    /// Run `cmd` with its standard input streamed from `from`; `sent` gets the bytes so far.
    fn run_piped<'a>(
        &'a self,
        cmd: &'a str,
        from: Box<dyn AsyncRead + Send + Unpin + 'a>,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, Result<Ran>>;
}

/// What staging sent to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Bytes sent this time (layers, config and manifest).
    pub sent: u64,
    pub layers_sent: usize,
    pub layers_total: usize,
    /// Bytes of layers already on the host from an earlier, cut delivery (not sent again).
    pub resumed: u64,
}

/// The chain IDs of a layer list (`chain(n) = sha256(chain(n-1) + " " + diff(n))`).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex(&Sha256::digest(format!("{prev} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Stage the layers `dst` lacks on its host through `host` and load the image there as
/// `image_ref`. An error means nothing was loaded; staged files stay for the next attempt.
pub async fn stage_and_load(
    prepared: &Prepared,
    cache: &Cache,
    image_ref: &str,
    dst: &Docker,
    host: &dyn HostFiles,
    sent: &(dyn Fn(u64) + Send + Sync),
) -> Result<Staged> {
    if docker::images::containerd_store(dst).await? {
        return Err(fail(
            Kind::Remote,
            "the host's engine keeps images in containerd's store, which loads only whole archives",
        ));
    }
    let refs = manifest::referenced(&prepared.manifest);
    let (config_digest, layers) = refs
        .split_first()
        .ok_or_else(|| fail(Kind::Internal, "the prepared manifest names no config"))?;
    let config = std::fs::read(cache.blob_path(config_digest))?;
    let diff_ids = manifest::diff_ids(&config, layers.len())?;
    let (repo, _) = crate::image::reference::split_tag(image_ref);
    let mut there = HashSet::new();
    for list in docker::images::layers_of(dst, repo).await? {
        there.extend(chain_ids(&list));
    }
    let mut missing: Vec<&String> = Vec::new();
    for (digest, chain) in layers.iter().zip(chain_ids(&diff_ids)) {
        // A layer the image holds twice is staged once.
        if !there.contains(&chain) && !missing.contains(&digest) {
            missing.push(digest);
        }
    }
    let already = probe(host, &missing).await?;
    let total = AtomicU64::new(0);
    let mut resumed = 0;
    for digest in &missing {
        let size = cache
            .blob(digest)
            .ok_or_else(|| fail(Kind::Internal, format!("the cache lost layer {digest}")))?
            .size;
        let have = already
            .get(hex_of(digest))
            .copied()
            .unwrap_or(Have::Nothing);
        let from = match have {
            Have::Whole => {
                resumed += size;
                continue;
            }
            Have::Part(n) if n <= size => n,
            _ => 0,
        };
        resumed += from;
        upload(host, cache, digest, from, size, &total, sent).await?;
    }
    let written = load(host, &prepared.digest, image_ref, &config, layers, &missing).await?;
    total.fetch_add(written, Ordering::Relaxed);
    sent(total.load(Ordering::Relaxed));
    Ok(Staged {
        sent: total.load(Ordering::Relaxed),
        layers_sent: missing.len(),
        layers_total: layers.len(),
        resumed,
    })
}

/// Write the archive's config and `manifest.json` beside links to the staged layers and have
/// the host's `docker load` read them; the bytes written. The staged layers are removed once
/// loaded, and kept for the next attempt when the load fails.
async fn load(
    host: &dyn HostFiles,
    manifest_digest: &str,
    image_ref: &str,
    config: &[u8],
    layers: &[String],
    missing: &[&String],
) -> Result<u64> {
    let ld = quote(&format!("{DIR}/load-{}", &hex_of(manifest_digest)[..12]));
    let archive = archive_manifest(image_ref, layers)?;
    let write = format!("rm -rf {ld} && mkdir -p {ld} && cat > {ld}/config.json");
    let ran = host
        .run(
            "stage the image config",
            &write,
            Some(config.to_vec()),
            SHORT,
        )
        .await?;
    must(ran, "writing the image config")?;
    let mut cmd = format!("cat > {ld}/manifest.json");
    for d in missing {
        cmd.push_str(&format!(" && ln -sf ../{h} {ld}/{h}.tar", h = hex_of(d)));
    }
    let ran = host
        .run(
            "stage the archive manifest",
            &cmd,
            Some(archive.clone()),
            SHORT,
        )
        .await?;
    must(ran, "writing manifest.json")?;
    let load = format!("cd {ld} && tar -chf - . | docker load -q");
    let loaded = host.run("docker load", &load, None, LOAD_DEADLINE).await?;
    let mut cleanup = vec![ld.clone()];
    if loaded.status == 0 {
        cleanup.extend(
            missing
                .iter()
                .map(|d| quote(&format!("{DIR}/{}", hex_of(d)))),
        );
    }
    let _ = host
        .run(
            "clean up",
            &format!("rm -rf {}", cleanup.join(" ")),
            None,
            SHORT,
        )
        .await;
    if loaded.status != 0 {
        return Err(fail(
            Kind::Remote,
            format!("docker load on the host failed: {}", last_line(&loaded)),
        ));
    }
    Ok((config.len() + archive.len()) as u64)
}

/// What the host holds of one layer already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Have {
    Nothing,
    Part(u64),
    Whole,
}

/// Check for the `docker` command and read what is staged of each of `digests`.
async fn probe(
    host: &dyn HostFiles,
    digests: &[&String],
) -> Result<std::collections::HashMap<String, Have>> {
    let names: Vec<&str> = digests.iter().map(|d| hex_of(d)).collect();
    let each = if names.is_empty() {
        String::new()
    } else {
        format!(
            " && for f in {}; do if [ -e \"$d/$f\" ]; then echo \"$f whole\"; \
             elif [ -e \"$d/$f.part\" ]; then echo \"$f $(wc -c < \"$d/$f.part\")\"; fi; done",
            names.join(" ")
        )
    };
    let cmd = format!(
        "command -v docker >/dev/null 2>&1 || {{ echo no-docker; exit 0; }}; d={d}; mkdir -p \"$d\" && \
         {{ find \"$d\" -mindepth 1 -maxdepth 1 -mtime +7 -exec rm -rf {{}} + 2>/dev/null || true; }}{each}",
        d = quote(DIR),
    );
    let ran = must(
        host.run("look for staged layers", &cmd, None, SHORT)
            .await?,
        "looking for staged layers",
    )?;
    if ran.stdout.lines().any(|l| l.trim() == "no-docker") {
        return Err(fail(Kind::Remote, "the host has no `docker` command"));
    }
    Ok(parse_probe(&ran.stdout))
}

fn parse_probe(out: &str) -> std::collections::HashMap<String, Have> {
    out.lines()
        .filter_map(|l| {
            let (name, what) = l.trim().split_once(' ')?;
            let have = match what.trim() {
                "whole" => Have::Whole,
                n => Have::Part(n.parse().ok()?),
            };
            Some((name.to_string(), have))
        })
        .collect()
}

/// Append the rest of one layer (from byte `from`) to its staged file, then check and name it.
async fn upload(
    host: &dyn HostFiles,
    cache: &Cache,
    digest: &str,
    from: u64,
    size: u64,
    total: &AtomicU64,
    sent: &(dyn Fn(u64) + Send + Sync),
) -> Result<()> {
    let h = hex_of(digest);
    if from >= size {
        let cmd = stage_cmd::check(h);
        let ran = host.run("check a staged layer", &cmd, None, SHORT).await?;
        must(ran, "checking a staged layer")?;
        return Ok(());
    }
    let mut file = tokio::fs::File::open(cache.blob_path(digest)).await?;
    file.seek(std::io::SeekFrom::Start(from)).await?;
    let reader = Box::new(file.take(size - from));
    let base = total.load(Ordering::Relaxed);
    let progress = AtomicU64::new(0);
    let report = |n: u64| {
        progress.store(n, Ordering::Relaxed);
        total.store(base + n, Ordering::Relaxed);
        sent(base + n);
    };
    let cmd = stage_cmd::store(h, from, size);
    let upload = host.run_piped(&cmd, reader, &report);
    let ran = watched(upload, &progress, &format!("sending layer {}", &h[..12])).await?;
    must(ran, "sending and checking a staged layer")?;
    Ok(())
}

/// Run `fut`, failing when `progress` has not moved for [`STALL`].
async fn watched<T>(
    fut: impl std::future::Future<Output = Result<T>>,
    progress: &AtomicU64,
    what: &str,
) -> Result<T> {
    tokio::pin!(fut);
    let mut last = (
        progress.load(Ordering::Relaxed),
        tokio::time::Instant::now(),
    );
    loop {
        tokio::select! {
            r = &mut fut => return r,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                let now = progress.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, tokio::time::Instant::now());
                } else if last.1.elapsed() >= STALL {
                    return Err(fail(Kind::Remote, format!("{what}: no byte moved for {}s", STALL.as_secs())));
                }
            }
        }
    }
}

/// The `manifest.json` of a `docker save` archive naming every layer (`<hex>.tar`); only the
/// staged ones are in the archive.
fn archive_manifest(image_ref: &str, layers: &[String]) -> Result<Vec<u8>> {
    let names: Vec<String> = layers
        .iter()
        .map(|d| format!("{}.tar", hex_of(d)))
        .collect();
    let entry = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [image_ref],
        "Layers": names,
    }]);
    Ok(serde_json::to_vec(&entry)?)
}

fn must(ran: Ran, what: &str) -> Result<Ran> {
    if ran.status == 0 {
        Ok(ran)
    } else {
        Err(fail(
            Kind::Remote,
            format!("{what} failed: {}", last_line(&ran)),
        ))
    }
}

fn last_line(ran: &Ran) -> String {
    let text = if ran.stderr.trim().is_empty() {
        &ran.stdout
    } else {
        &ran.stderr
    };
    text.trim()
        .lines()
        .last()
        .unwrap_or("(no output)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_dockers_rule() {
        let a = "sha256:aaaa".to_string();
        let b = "sha256:bbbb".to_string();
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let want = format!(
            "sha256:{}",
            hex(&Sha256::digest(b"sha256:aaaa sha256:bbbb"))
        );
        assert_eq!(ids[1], want);
    }

    #[test]
    fn the_probe_reads_whole_and_partial_layers() {
        let got = parse_probe("abc whole\ndef 4096\n\nnonsense\n");
        assert_eq!(got.get("abc"), Some(&Have::Whole));
        assert_eq!(got.get("def"), Some(&Have::Part(4096)));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn the_archive_manifest_names_every_layer() {
        let m = archive_manifest("app:v2", &["sha256:11".into(), "sha256:22".into()]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v[0]["Layers"], serde_json::json!(["11.tar", "22.tar"]));
        assert_eq!(v[0]["RepoTags"][0], "app:v2");
        assert_eq!(v[0]["Config"], "config.json");
    }
}
