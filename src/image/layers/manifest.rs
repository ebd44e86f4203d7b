//! Reading a `docker save` archive's `manifest.json` (written by every Docker: the legacy
//! layout names `<id>.json` and `<id>/layer.tar`, Docker 25+'s OCI layout names
//! `blobs/sha256/<hex>`; the same file lists both), and building the registry manifest the
//! host's engine pulls: Docker schema2 when every layer is gzip, OCI otherwise (zstd).

use super::cache::Blob;
use crate::error::{fail, Kind};
use anyhow::Result;
use serde::Deserialize;

pub const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const SCHEMA2_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// One entry of a save archive's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SavedEntry {
    pub config: String,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// The part of an image config that names its layers.
#[derive(Debug, Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The first image of a save archive's `manifest.json`.
pub fn saved_entry(manifest_json: &[u8]) -> Result<SavedEntry> {
    let entries: Vec<SavedEntry> = serde_json::from_slice(manifest_json).map_err(|e| {
        fail(
            Kind::Internal,
            format!("the saved image's manifest.json is not what Docker writes: {e}"),
        )
    })?;
    entries.into_iter().next().ok_or_else(|| {
        fail(
            Kind::Internal,
            "the saved image's manifest.json lists no image",
        )
    })
}

/// The config's layer diff-ids, which must pair with the save's layer files.
pub fn diff_ids(config: &[u8], layer_files: usize) -> Result<Vec<String>> {
    let c: Config = serde_json::from_slice(config).map_err(|e| {
        fail(
            Kind::Internal,
            format!("the image config is unreadable: {e}"),
        )
    })?;
    if c.rootfs.diff_ids.len() != layer_files {
        return Err(fail(
            Kind::Internal,
            format!(
                "the image config names {} layers but the save holds {layer_files}",
                c.rootfs.diff_ids.len()
            ),
        ));
    }
    Ok(c.rootfs.diff_ids)
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// What the first bytes of a layer file say: `None` for a plain tar.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// The manifest for `config` and `layers`; returns its media type and bytes.
pub fn build(config: &Blob, layers: &[(Blob, Compression)]) -> (&'static str, Vec<u8>) {
    let oci = layers.iter().any(|(_, c)| *c == Compression::Zstd);
    let (media, config_media) = if oci {
        (OCI, OCI_CONFIG)
    } else {
        (SCHEMA2, SCHEMA2_CONFIG)
    };
    let layers: Vec<_> = layers
        .iter()
        .map(|(b, c)| {
            let m = match (oci, c) {
                (false, _) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
                (true, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
                (true, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            serde_json::json!({ "mediaType": m, "size": b.size, "digest": b.digest })
        })
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media,
        "config": { "mediaType": config_media, "size": config.size, "digest": config.digest },
        "layers": layers,
    });
    (media, serde_json::to_vec(&doc).unwrap_or_default())
}

/// The media type a stored manifest declares.
pub fn media_type(manifest: &[u8]) -> &'static str {
    let v: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    if v["mediaType"] == OCI {
        OCI
    } else {
        SCHEMA2
    }
}

/// The digests a stored manifest references (config first), to check the cache still has them.
pub fn referenced(manifest: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    let mut out: Vec<String> = v["config"]["digest"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(layers) = v["layers"].as_array() {
        out.extend(
            layers
                .iter()
                .filter_map(|l| l["digest"].as_str().map(str::to_string)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(d: &str, size: u64) -> Blob {
        Blob {
            digest: format!("sha256:{d}"),
            size,
        }
    }

    #[test]
    fn both_save_layouts_are_read_from_manifest_json() {
        let legacy = br#"[{"Config":"abc.json","RepoTags":["app:v1"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#;
        let e = saved_entry(legacy).unwrap();
        assert_eq!((e.config.as_str(), e.layers.len()), ("abc.json", 2));
        let oci = br#"[{"Config":"blobs/sha256/abc","RepoTags":null,"Layers":["blobs/sha256/l1"],"LayerSources":{}}]"#;
        let e = saved_entry(oci).unwrap();
        assert_eq!(e.layers, vec!["blobs/sha256/l1".to_string()]);
        assert!(saved_entry(b"[]").is_err());
        let config = br#"{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:1","sha256:2"]}}"#;
        assert_eq!(diff_ids(config, 2).unwrap(), vec!["sha256:1", "sha256:2"]);
        assert!(diff_ids(config, 3).is_err());
    }

    #[test]
    fn schema2_for_gzip_layers_oci_when_one_is_zstd() {
        let (media, bytes) = build(&blob("c", 10), &[(blob("a", 5), Compression::Gzip)]);
        assert_eq!(media, SCHEMA2);
        assert_eq!(media_type(&bytes), SCHEMA2);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["config"]["mediaType"], SCHEMA2_CONFIG);
        assert_eq!(
            (v["config"]["size"].as_u64(), v["schemaVersion"].as_u64()),
            (Some(10), Some(2))
        );
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_eq!(v["layers"][0]["size"].as_u64(), Some(5));
        assert_eq!(referenced(&bytes), vec!["sha256:c", "sha256:a"]);
        let (media, bytes) = build(
            &blob("c", 10),
            &[
                (blob("a", 5), Compression::Gzip),
                (blob("b", 6), Compression::Zstd),
            ],
        );
        assert_eq!((media, media_type(&bytes)), (OCI, OCI));
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("tar+zstd") && text.contains("tar+gzip"),
            "{text}"
        );
        // The same input gives the same bytes (and so the same manifest digest).
        assert_eq!(
            build(&blob("c", 10), &[(blob("a", 5), Compression::Gzip)]).1,
            build(&blob("c", 10), &[(blob("a", 5), Compression::Gzip)]).1
        );
    }

    #[test]
    fn compression_is_sniffed_from_the_first_bytes() {
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"usr/\0\0"), None);
    }
}
