//! The dhow-proxy image, made by dhow itself from the static `dhow-proxy` binary that ships
//! next to `dhow`: one layer, no base image, loaded into each host's engine over SSH, so hosts
//! never need Docker Hub or any registry.

use crate::error::{fail, Kind};
use crate::image::scratch::{self, Archive, ScratchImage};
use std::path::{Path, PathBuf};

/// Where dhow looks for the static proxy binary, in order.
pub fn candidates() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(p) = std::env::var_os("DHOW_PROXY_BINARY") {
        list.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            list.push(dir.join("dhow-proxy"));
            // In a cargo build tree: target/{debug,release}/dhow -> target/<triple>/release.
            list.push(dir.join("../x86_64-unknown-linux-gnu/release/dhow-proxy"));
        }
    }
    list
}

/// True when `path` is an ELF executable without a dynamic loader (a static binary).
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    static_elf(&bytes)
}

fn static_elf(b: &[u8]) -> bool {
    // ELF64 little-endian only (x86_64, aarch64).
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a) as usize
    };
    let (phoff, phentsize, phnum) = (u64at(32), u16at(54), u16at(56));
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > b.len() {
            return false;
        }
        let p_type = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
        if p_type == 3 {
            return false; // PT_INTERP: needs a dynamic loader
        }
    }
    true
}

/// The first static proxy binary found.
fn static_binary() -> Option<PathBuf> {
    candidates()
        .into_iter()
        .find(|p| p.is_file() && is_static_elf(p))
}

/// SHA-256 (hex) of the static proxy binary the image is made from.
pub fn binary_digest() -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(static_binary()?).ok()?;
    Some(format!("{:x}", Sha256::digest(&bytes)))
}

/// The proxy image archive, built from the first static binary found.
pub fn archive(tag: &str) -> anyhow::Result<Archive> {
    let tried = candidates();
    let mut dynamic = Vec::new();
    for path in &tried {
        if !path.is_file() {
            continue;
        }
        if !is_static_elf(path) {
            dynamic.push(path.display().to_string());
            continue;
        }
        let mut image = ScratchImage::from_file(path, tag)?;
        image.cmd = vec!["run".into()];
        image.labels.insert(
            "dhow.proxy.version".into(),
            env!("CARGO_PKG_VERSION").into(),
        );
        return scratch::image_tar(&image);
    }
    let mut msg = format!(
        "no static dhow-proxy binary found to make the proxy image (looked at: {})",
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !dynamic.is_empty() {
        msg.push_str(&format!(
            "; these are dynamically linked and cannot run in the empty proxy image: {}",
            dynamic.join(", ")
        ));
    }
    msg.push_str(
        ". Build it with `make proxy-static` (or set DHOW_PROXY_BINARY to a static dhow-proxy)",
    );
    Err(fail(Kind::Usage, msg))
}

/// The proxy image for hosts that lack it: its archive is made once per run (on the first
/// host that needs it) and loaded into each such host's engine over that host's connection.
#[derive(Debug, Clone, Default)]
pub struct ProxyImage {
    archive: std::sync::Arc<std::sync::OnceLock<Archive>>,
}

impl ProxyImage {
    /// Load the image (tagged `on_host::image_tag()`) into `docker`.
    pub async fn load(&self, docker: &bollard::Docker) -> anyhow::Result<()> {
        let tag = crate::proxy::on_host::image_tag();
        let archive = match self.archive.get() {
            Some(a) => a.clone(),
            None => {
                let a = archive(&tag)?;
                self.archive.get_or_init(|| a).clone()
            }
        };
        scratch::load(docker, &archive, &tag).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_and_garbage_is_not_static() {
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&exe), "test binaries link dynamically");
        assert!(!static_elf(
            b"not an elf at all, just some bytes padding padding padding padding"
        ));
    }
}
