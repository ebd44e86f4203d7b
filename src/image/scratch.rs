//! Images made without any Docker build: one static binary in a single layer, written as a
//! `docker load` archive (manifest.json, the image config, the layer tar). This is how the
//! proxy image reaches hosts: no base image, no registry, no local Docker needed. The
//! archive is deterministic, so the same binary always gives the same image ID.

use super::engine;
use super::reference;
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::query_parameters::{ImportImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Timestamp written into the image (Unix epoch): the archive depends only on its inputs.
const CREATED: &str = "1970-01-01T00:00:00Z";
/// Loading a few MB should never take long; this bounds a stuck engine or tunnel.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A single-binary image.
#[derive(Debug, Clone)]
pub struct ScratchImage {
    /// The executable's bytes (a static binary).
    pub binary: Vec<u8>,
    /// Where it goes in the image, without the leading `/` (e.g. `dhow-proxy`).
    pub path_in_image: String,
    /// The name to load it as, e.g. `dhow/proxy:<version>`.
    pub repo_tag: String,
    /// The image's entrypoint, e.g. `["/dhow-proxy"]`.
    pub entrypoint: Vec<String>,
    /// Default arguments (`CMD`), may be empty.
    pub cmd: Vec<String>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Docker architecture name: `amd64`, `arm64`.
    pub arch: String,
}

impl ScratchImage {
    /// An image of the static binary at `binary`, placed at `/<file name>` and used as the
    /// entrypoint, for amd64 (e.g. the proxy: `target/x86_64-unknown-linux-gnu/release/dhow-proxy`).
    pub fn from_file(binary: &Path, repo_tag: &str) -> Result<ScratchImage> {
        let bytes = std::fs::read(binary).map_err(|e| {
            fail(
                Kind::Usage,
                format!(
                    "cannot read the binary {} for image {repo_tag}: {e}; build it first",
                    binary.display()
                ),
            )
        })?;
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".to_string());
        Ok(ScratchImage {
            binary: bytes,
            entrypoint: vec![format!("/{name}")],
            path_in_image: name,
            repo_tag: repo_tag.to_string(),
            cmd: Vec::new(),
            env: Vec::new(),
            labels: BTreeMap::new(),
            arch: "amd64".to_string(),
        })
    }
}

/// A `docker load` archive and the ID the image will have once loaded.
#[derive(Debug, Clone)]
pub struct Archive {
    pub bytes: Vec<u8>,
    /// `sha256:<hex of the config>`, the image ID every engine will report.
    pub image_id: String,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Assemble the `docker load` archive of `image`.
pub fn image_tar(image: &ScratchImage) -> Result<Archive> {
    let internal = |e: std::io::Error| fail(Kind::Internal, format!("building image archive: {e}"));
    let path = image.path_in_image.trim_start_matches('/');

    // The one layer: the binary, root-owned, mode 0755.
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(image.binary.len() as u64);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    layer
        .append_data(&mut header, path, &image.binary[..])
        .map_err(internal)?;
    let layer = layer.into_inner().map_err(internal)?;
    let layer_hex = sha256_hex(&layer);

    let mut container_config = serde_json::Map::new();
    if !image.entrypoint.is_empty() {
        container_config.insert("Entrypoint".into(), serde_json::json!(image.entrypoint));
    }
    if !image.cmd.is_empty() {
        container_config.insert("Cmd".into(), serde_json::json!(image.cmd));
    }
    if !image.env.is_empty() {
        container_config.insert("Env".into(), serde_json::json!(image.env));
    }
    if !image.labels.is_empty() {
        container_config.insert("Labels".into(), serde_json::json!(image.labels));
    }
    let config = serde_json::json!({
        "architecture": image.arch,
        "os": "linux",
        "created": CREATED,
        "config": container_config,
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_hex}")] },
        "history": [{ "created": CREATED, "created_by": format!("dhow: /{path}") }],
    });
    let config = serde_json::to_vec(&config)
        .map_err(|e| fail(Kind::Internal, format!("image config: {e}")))?;
    let config_hex = sha256_hex(&config);
    let config_name = format!("{config_hex}.json");
    let layer_name = format!("{layer_hex}/layer.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [image.repo_tag],
        "Layers": [layer_name],
    }]))
    .map_err(|e| fail(Kind::Internal, format!("image manifest: {e}")))?;

    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in [
        (config_name.as_str(), &config[..]),
        (layer_name.as_str(), &layer[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, name, data)
            .map_err(internal)?;
    }
    let bytes = archive.into_inner().map_err(internal)?;
    Ok(Archive {
        bytes,
        image_id: format!("sha256:{config_hex}"),
    })
}

/// Load `archive` (named `repo_tag`) into `docker` unless the engine already has that image
/// ID, in which case it only makes sure the tag is there. Returns true when it was loaded.
pub async fn load(docker: &Docker, archive: &Archive, repo_tag: &str) -> Result<bool> {
    match docker.inspect_image(&archive.image_id).await {
        Ok(_) => {
            let (repo, tag) = reference::split_tag(repo_tag);
            let options = TagImageOptionsBuilder::default()
                .repo(repo)
                .tag(tag.unwrap_or("latest"))
                .build();
            docker
                .tag_image(&archive.image_id, Some(options))
                .await
                .map_err(|e| {
                    fail(
                        Kind::Remote,
                        format!("tagging {repo_tag} failed: {}", docker::message(&e)),
                    )
                })?;
            return Ok(false);
        }
        Err(e) if docker::is_not_found(&e) => {}
        Err(e) => {
            return Err(fail(
                Kind::Remote,
                format!(
                    "cannot look up image {} on the engine: {}",
                    archive.image_id,
                    docker::message(&e)
                ),
            ))
        }
    }
    let body = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(
        archive.bytes.clone(),
    ))]);
    let options = ImportImageOptionsBuilder::default().quiet(true).build();
    let loader = docker.clone().with_timeout(LOAD_TIMEOUT);
    let mut responses = loader.import_image_stream(options, body, None);
    while let Some(item) = engine::next_within(&mut responses, LOAD_TIMEOUT, "image load").await? {
        if let Err(e) = item {
            return Err(fail(
                Kind::Remote,
                format!("loading {repo_tag} failed: {}", docker::message(&e)),
            ));
        }
    }
    let loaded = docker.inspect_image(repo_tag).await.map_err(|e| {
        fail(
            Kind::Remote,
            format!(
                "loaded {repo_tag} but the engine does not list it: {}",
                docker::message(&e)
            ),
        )
    })?;
    if loaded.id.as_deref() != Some(archive.image_id.as_str()) {
        return Err(fail(
            Kind::Remote,
            format!(
                "loaded {repo_tag} but the engine reports ID {} instead of {}",
                loaded.id.unwrap_or_default(),
                archive.image_id
            ),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn image() -> ScratchImage {
        ScratchImage {
            binary: b"#!not really a binary".to_vec(),
            path_in_image: "dhow-proxy".into(),
            repo_tag: "dhow-test/proxy:1".into(),
            entrypoint: vec!["/dhow-proxy".into()],
            cmd: vec![],
            env: vec![],
            labels: BTreeMap::from([("dhow.role".to_string(), "proxy".to_string())]),
            arch: "amd64".into(),
        }
    }

    fn entries(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut archive = tar::Archive::new(data);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            out.insert(name, body);
        }
        out
    }

    #[test]
    fn the_archive_has_manifest_config_and_a_layer_with_the_binary() {
        let archive = image_tar(&image()).unwrap();
        let files = entries(&archive.bytes);
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let layer_name = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], "dhow-test/proxy:1");
        let config_bytes = &files[config_name];
        assert_eq!(
            archive.image_id,
            format!("sha256:{}", sha256_hex(config_bytes))
        );
        let config: serde_json::Value = serde_json::from_slice(config_bytes).unwrap();
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Entrypoint"][0], "/dhow-proxy");
        assert_eq!(config["config"]["Labels"]["dhow.role"], "proxy");
        let layer = &files[layer_name];
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            format!("sha256:{}", sha256_hex(layer))
        );
        let mut inner = tar::Archive::new(&layer[..]);
        let entry = inner.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().display().to_string(), "dhow-proxy");
        assert_eq!(entry.header().mode().unwrap(), 0o755);
    }

    #[test]
    fn the_same_inputs_give_the_same_image_id() {
        let a = image_tar(&image()).unwrap();
        let b = image_tar(&image()).unwrap();
        assert_eq!(a.image_id, b.image_id);
        let mut other = image();
        other.binary.push(b'!');
        assert_ne!(image_tar(&other).unwrap().image_id, a.image_id);
    }
}
