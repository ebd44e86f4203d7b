//! Preparing a local image for serving: its `docker save` archive is written to a private
//! temporary directory and unpacked, each layer goes into the cache (compressed once, keyed by
//! its diff-id; a layer that was saved compressed already is kept as it is), the config is
//! stored as a blob, and the registry manifest is built. The manifest is remembered per image
//! ID, so an image prepared before is not exported again.

use super::cache::{Blob, Cache};
use super::manifest::{self, Compression};
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// No chunk of the save stream for this long: give up.
const IDLE: Duration = Duration::from_secs(10 * 60);

/// An image ready to be served: its manifest, the manifest's digest and media type.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
}

impl Prepared {
    pub(crate) fn new(manifest: Vec<u8>) -> Prepared {
        Prepared {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&manifest))),
            media_type: manifest::media_type(&manifest),
            manifest,
        }
    }
}

/// Prepare the local image `image_ref` (ID `image_id`) in `cache`.
pub async fn prepare(
    local: &Docker,
    image_ref: &str,
    image_id: &str,
    cache: &Cache,
) -> Result<Prepared> {
    if let Some(m) = cache.manifest_for(image_id) {
        if manifest::referenced(&m)
            .iter()
            .all(|d| cache.blob(d).is_some())
        {
            return Ok(Prepared::new(m));
        }
    }
    let dir = tempfile::tempdir().map_err(|e| {
        fail(
            Kind::Usage,
            format!("no temporary directory for the image: {e}"),
        )
    })?;
    let archive = dir.path().join("image.tar");
    save(local, image_ref, &archive).await?;
    let (cache2, root) = (cache.clone(), dir.path().to_path_buf());
    let manifest = tokio::task::spawn_blocking(move || from_archive(&root, &cache2))
        .await
        .map_err(|e| fail(Kind::Internal, format!("preparing the image stopped: {e}")))??;
    cache.put_manifest_for(image_id, &manifest)?;
    Ok(Prepared::new(manifest))
}

/// Write the local engine's save archive of `image_ref` to `path`.
async fn save(local: &Docker, image_ref: &str, path: &Path) -> Result<()> {
    let write_err = |e: std::io::Error| {
        fail(
            Kind::Usage,
            format!("cannot write the saved image to {}: {e}", path.display()),
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(write_err)?;
    let mut stream = local.export_image(image_ref);
    loop {
        let next = tokio::time::timeout(IDLE, stream.next())
            .await
            .map_err(|_| {
                fail(
                    Kind::Usage,
                    format!("the local engine stopped sending {image_ref} for 10 minutes"),
                )
            })?;
        match next {
            None => break,
            Some(Ok(bytes)) => file.write_all(&bytes).await.map_err(write_err)?,
            Some(Err(e)) => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "cannot read {image_ref} from the local engine: {}",
                        docker::message(&e)
                    ),
                ))
            }
        }
    }
    file.flush().await.map_err(write_err)?;
    Ok(())
}

/// Unpack the archive `root/image.tar` and put its config and layers into `cache`; returns the
/// manifest.
fn from_archive(root: &Path, cache: &Cache) -> Result<Vec<u8>> {
    let unpacked = root.join("x");
    let unpack = || -> std::io::Result<()> {
        let file = std::fs::File::open(root.join("image.tar"))?;
        tar::Archive::new(file).unpack(&unpacked)
    };
    unpack().map_err(|e| fail(Kind::Usage, format!("cannot unpack the saved image: {e}")))?;
    let read = |name: &str| {
        std::fs::read(unpacked.join(name))
            .map_err(|e| fail(Kind::Internal, format!("the saved image lacks {name}: {e}")))
    };
    let entry = manifest::saved_entry(&read("manifest.json")?)?;
    let config_bytes = read(&entry.config)?;
    let diff_ids = manifest::diff_ids(&config_bytes, entry.layers.len())?;
    let config = cache.put_bytes(&config_bytes)?;
    let mut layers: Vec<(Blob, Compression)> = Vec::new();
    for (file, diff_id) in entry.layers.iter().zip(&diff_ids) {
        let path = unpacked.join(file);
        let mut head = [0u8; 4];
        let n = std::fs::File::open(&path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| fail(Kind::Internal, format!("the saved image lacks {file}: {e}")))?;
        layers.push(match Compression::sniff(&head[..n]) {
            Some(c) => (cache.put_file(&path)?, c),
            None => (cache.compress_layer(diff_id, &path)?, Compression::Gzip),
        });
    }
    Ok(manifest::build(&config, &layers).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(t: &mut tar::Builder<std::fs::File>, name: &str, bytes: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, bytes).unwrap();
    }

    #[test]
    fn a_legacy_save_archive_becomes_cached_blobs_and_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let layer = b"pretend this is a layer tar ".repeat(50);
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
        let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#);
        let file = std::fs::File::create(dir.path().join("image.tar")).unwrap();
        let mut t = tar::Builder::new(file);
        add(&mut t, "abc/layer.tar", &layer);
        add(&mut t, "cfg.json", config.as_bytes());
        add(
            &mut t,
            "manifest.json",
            br#"[{"Config":"cfg.json","RepoTags":["app:v1"],"Layers":["abc/layer.tar"]}]"#,
        );
        t.finish().unwrap();
        drop(t);
        let m = from_archive(dir.path(), &cache).unwrap();
        let refs = manifest::referenced(&m);
        assert_eq!(refs.len(), 2);
        assert_eq!(
            refs[0],
            format!("sha256:{}", hex::encode(Sha256::digest(config.as_bytes())))
        );
        assert_eq!(
            cache.compressed_for(&diff_id).map(|b| b.digest),
            Some(refs[1].clone())
        );
        assert!(refs.iter().all(|d| cache.blob(d).is_some()));
        assert_eq!(manifest::media_type(&m), manifest::SCHEMA2);
    }

    /// The local engine's own save (whatever layout this Docker writes), prepared twice: the
    /// second time from the cache, with the very same manifest.
    #[cfg(feature = "e2e")]
    #[tokio::test]
    async fn a_local_image_is_prepared_once_and_then_from_the_cache() {
        use crate::image::scratch::{image_tar, load, ScratchImage};
        let local = crate::docker::connect_local().await.unwrap();
        let binary: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let image = ScratchImage {
            binary,
            path_in_image: "/app".into(),
            repo_tag: "dhow-test/layers-export:t1".into(),
            entrypoint: vec!["/app".into()],
            cmd: vec![],
            env: vec![],
            labels: Default::default(),
            arch: "amd64".into(),
        };
        let archive = image_tar(&image).unwrap();
        load(&local, &archive, &image.repo_tag).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_path_buf()).unwrap();
        let first = prepare(&local, &image.repo_tag, &archive.image_id, &cache)
            .await
            .unwrap();
        let refs = manifest::referenced(&first.manifest);
        // The config blob is the image ID (the engine that pulls it gets the same image).
        assert_eq!(refs[0], archive.image_id);
        assert_eq!(
            refs.len(),
            2,
            "{}",
            String::from_utf8_lossy(&first.manifest)
        );
        let again = prepare(&local, &image.repo_tag, &archive.image_id, &cache)
            .await
            .unwrap();
        assert_eq!(again.digest, first.digest);
    }
}
