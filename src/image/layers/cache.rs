//! The deployer's blob cache: gzip-compressed layers keyed by their uncompressed diff-id, and
//! config blobs and prepared manifests by digest, under `$XDG_CACHE_HOME/dhow` (else
//! `~/.cache/dhow`). Compression is deterministic (fixed level, no name, mtime 0), so an
//! unchanged layer keeps its compressed digest from deploy to deploy: it is neither
//! compressed again here nor pulled again by a host's engine that has it.
//!
//! Files are written under a temporary name and renamed into place, so a crash leaves no
//! half-written blob behind a valid name.

use crate::error::{fail, Kind};
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A blob as the registry API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

/// The cache directory and its layout.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// `$XDG_CACHE_HOME/dhow`, else `~/.cache/dhow`.
    pub fn default_root() -> Result<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("dhow"));
        }
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".cache").join("dhow")),
            None => Err(fail(
                Kind::Usage,
                "neither XDG_CACHE_HOME nor HOME is set: no place for the layer cache",
            )),
        }
    }

    pub fn open(root: PathBuf) -> Result<Cache> {
        for dir in ["blobs/sha256", "diffids", "images", "tmp"] {
            fs::create_dir_all(root.join(dir)).map_err(|e| {
                fail(
                    Kind::Usage,
                    format!("cannot create the layer cache {}: {e}", root.display()),
                )
            })?;
        }
        Ok(Cache { root })
    }

    /// Where the blob with `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    /// The blob, if the cache holds it whole.
    pub fn blob(&self, digest: &str) -> Option<Blob> {
        let size = fs::metadata(self.blob_path(digest)).ok()?.len();
        Some(Blob {
            digest: digest.to_string(),
            size,
        })
    }

    /// The compressed blob made before from the layer with `diff_id`, if it is still whole.
    pub fn compressed_for(&self, diff_id: &str) -> Option<Blob> {
        let text = fs::read_to_string(self.root.join("diffids").join(hex_of(diff_id))).ok()?;
        let (digest, size) = text.trim().split_once(' ')?;
        let size: u64 = size.parse().ok()?;
        let found = self.blob(digest)?;
        (found.size == size).then_some(found)
    }

    /// Compress the layer tar at `tar` (whose sha256 must be `diff_id`) into the cache, or
    /// return the blob made before.
    pub fn compress_layer(&self, diff_id: &str, tar: &Path) -> Result<Blob> {
        if let Some(b) = self.compressed_for(diff_id) {
            return Ok(b);
        }
        let input = fs::File::open(tar).map_err(|e| io_fail("read layer", tar, e))?;
        let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))
            .map_err(|e| io_fail("write to", &self.root, e))?;
        let hashed = HashingWriter::new(tmp.as_file());
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(hashed, flate2::Compression::fast());
        let mut reader = HashingReader::new(input);
        io::copy(&mut reader, &mut gz).map_err(|e| io_fail("compress layer", tar, e))?;
        let hashed = gz.finish().map_err(|e| io_fail("compress layer", tar, e))?;
        let actual = format!("sha256:{}", hex::encode(reader.hash.finalize()));
        if actual != diff_id {
            return Err(fail(
                Kind::Internal,
                format!(
                    "the saved layer {} has digest {actual}, not {diff_id}",
                    tar.display()
                ),
            ));
        }
        let blob = Blob {
            digest: format!("sha256:{}", hex::encode(hashed.hash.finalize())),
            size: hashed.written,
        };
        tmp.persist(self.blob_path(&blob.digest))
            .map_err(|e| io_fail("store", &self.root, e.error))?;
        self.write_atomic(
            &self.root.join("diffids").join(hex_of(diff_id)),
            format!("{} {}\n", blob.digest, blob.size).as_bytes(),
        )?;
        Ok(blob)
    }

    /// Store `bytes` as a blob (a config, a layer that came compressed already).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Blob> {
        let blob = Blob {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            size: bytes.len() as u64,
        };
        if self.blob(&blob.digest).map(|b| b.size) != Some(blob.size) {
            self.write_atomic(&self.blob_path(&blob.digest), bytes)?;
        }
        Ok(blob)
    }

    /// Move the file at `path` (its digest already known) into the cache.
    pub fn put_file(&self, path: &Path) -> Result<Blob> {
        let mut reader =
            HashingReader::new(fs::File::open(path).map_err(|e| io_fail("read", path, e))?);
        let size = io::copy(&mut reader, &mut io::sink()).map_err(|e| io_fail("read", path, e))?;
        let blob = Blob {
            digest: format!("sha256:{}", hex::encode(reader.hash.finalize())),
            size,
        };
        fs::copy(path, self.blob_path(&blob.digest)).map_err(|e| io_fail("store", path, e))?;
        Ok(blob)
    }

    /// The manifest prepared before for the local image with `image_id`.
    pub fn manifest_for(&self, image_id: &str) -> Option<Vec<u8>> {
        fs::read(self.root.join("images").join(hex_of(image_id))).ok()
    }

    pub fn put_manifest_for(&self, image_id: &str, manifest: &[u8]) -> Result<()> {
        self.write_atomic(&self.root.join("images").join(hex_of(image_id)), manifest)
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))
            .map_err(|e| io_fail("write to", &self.root, e))?;
        tmp.write_all(bytes)
            .map_err(|e| io_fail("write", tmp.path(), e))?;
        tmp.persist(path)
            .map_err(|e| io_fail("store", path, e.error))?;
        Ok(())
    }
}

/// `sha256:abc` -> `abc` (only hex digits kept, so a digest never names a path elsewhere).
fn hex_of(digest: &str) -> String {
    let hex = digest.rsplit(':').next().unwrap_or(digest);
    hex.chars().filter(char::is_ascii_hexdigit).collect()
}

fn io_fail(what: &str, path: &Path, e: io::Error) -> anyhow::Error {
    fail(
        Kind::Usage,
        format!("layer cache: cannot {what} {}: {e}", path.display()),
    )
}

struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hash: Sha256::new(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hash: Sha256::new(),
            written: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, content: &[u8]) -> (PathBuf, String) {
        let path = dir.join("layer.tar");
        fs::write(&path, content).unwrap();
        (
            path,
            format!("sha256:{}", hex::encode(Sha256::digest(content))),
        )
    }

    #[test]
    fn the_same_layer_gives_the_same_blob_and_is_compressed_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let (tar, diff_id) = layer(dir.path(), &b"hello layer ".repeat(1000));
        assert_eq!(cache.compressed_for(&diff_id), None);
        let first = cache.compress_layer(&diff_id, &tar).unwrap();
        assert!(first.size < 1000, "{first:?}");
        let bytes = fs::read(cache.blob_path(&first.digest)).unwrap();
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            first.digest
        );
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, b"hello layer ".repeat(1000));
        assert_eq!(cache.compressed_for(&diff_id), Some(first.clone()));
        // Compressed again from scratch (another cache): the very same digest.
        let other = Cache::open(dir.path().join("d")).unwrap();
        assert_eq!(other.compress_layer(&diff_id, &tar).unwrap(), first);
        // Served from the cache without reading the tar.
        fs::remove_file(&tar).unwrap();
        assert_eq!(cache.compress_layer(&diff_id, &tar).unwrap(), first);
    }

    #[test]
    fn a_truncated_blob_or_a_wrong_diff_id_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let (tar, diff_id) = layer(dir.path(), b"abc");
        let blob = cache.compress_layer(&diff_id, &tar).unwrap();
        fs::write(cache.blob_path(&blob.digest), b"x").unwrap();
        assert_eq!(cache.compressed_for(&diff_id), None);
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = cache.compress_layer(&wrong, &tar).unwrap_err();
        assert!(format!("{err}").contains("not sha256:000"), "{err}");
    }

    #[test]
    fn digests_never_name_paths_outside() {
        assert_eq!(hex_of("sha256:../../etc/passwd"), "ecad");
        assert_eq!(hex_of("sha256:ab12"), "ab12");
    }
}
