//! The dhow-proxy image, made by dhow itself from a static `dhow-proxy` binary for the host's
//! architecture: one layer, no base image, loaded into each host's engine over SSH, so hosts
//! never need Docker Hub or any registry. The binaries are embedded in dhow at build time
//! (build.rs, for x86_64 and aarch64); a development build without them finds the
//! `make proxy-static` binary instead. A team that publishes its own proxy image sets
//! `proxy.image`, and hosts get that image instead (on_host.rs).

use crate::error::{fail, Kind};
use crate::image::scratch::{self, Archive, ScratchImage};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_proxy.rs"));
}

/// Rust target triples by Docker platform name, for the binaries of a cargo build tree.
const TRIPLES: [(&str, &str); 2] = [
    ("amd64", "x86_64-unknown-linux-gnu"),
    ("arm64", "aarch64-unknown-linux-gnu"),
];

/// A static proxy binary for one architecture.
#[derive(Clone)]
pub struct Binary {
    pub bytes: Arc<[u8]>,
    /// SHA-256 (hex) of the bytes.
    pub digest: String,
}

/// Files that may hold a static proxy binary, in order (after DHOW_PROXY_BINARY and the
/// embedded ones): next to dhow, then a cargo build tree's static builds.
fn files() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            list.push(dir.join("dhow-proxy"));
            // In a cargo build tree: target/{debug,release}/dhow -> target/<triple>/release.
            for (_, triple) in TRIPLES {
                list.push(dir.join(format!("../{triple}/release/dhow-proxy")));
            }
        }
    }
    list
}

/// The ELF machine of a static little-endian ELF64 executable, as a Docker platform name;
/// `Err` says why the bytes are not one.
pub fn static_elf_arch(b: &[u8]) -> Result<&'static str, &'static str> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return Err("not a 64-bit little-endian ELF executable");
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
            return Err("a truncated ELF file");
        }
        if u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) == 3 {
            return Err("dynamically linked (it cannot run in the empty proxy image)");
        }
    }
    match u16at(18) {
        0x3e => Ok("amd64"),
        0xb7 => Ok("arm64"),
        _ => Err("built for an architecture dhow does not deploy the proxy to"),
    }
}

fn binary(bytes: Arc<[u8]>) -> Binary {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(&bytes));
    Binary { bytes, digest }
}

/// Find the static proxy binary for `arch` (a Docker platform name); `Err` lists what was
/// looked at and how to get one.
fn find(arch: &str) -> anyhow::Result<Binary> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("DHOW_PROXY_BINARY").map(PathBuf::from) {
        match std::fs::read(&p) {
            Ok(b) => match static_elf_arch(&b) {
                Ok(a) if a == arch => return Ok(binary(b.into())),
                Ok(a) => tried.push(format!("DHOW_PROXY_BINARY={} (for {a})", p.display())),
                Err(why) => tried.push(format!("DHOW_PROXY_BINARY={} ({why})", p.display())),
            },
            Err(e) => tried.push(format!("DHOW_PROXY_BINARY={} ({e})", p.display())),
        }
    }
    let docker_arch = |a: &str| crate::docker::arch::platform_name(a);
    if let Some((_, bytes)) = embedded::EMBEDDED
        .iter()
        .find(|(a, _)| docker_arch(a) == arch)
    {
        return Ok(binary(Arc::from(*bytes)));
    }
    let carried: Vec<String> = embedded::EMBEDDED
        .iter()
        .map(|(a, _)| docker_arch(a))
        .collect();
    tried.push(if carried.is_empty() {
        "this dhow carries no proxy binary (built with DHOW_EMBED_PROXY=off)".to_string()
    } else {
        format!(
            "this dhow carries the proxy for {} only",
            carried.join(", ")
        )
    });
    for p in files() {
        let Ok(b) = std::fs::read(&p) else { continue };
        match static_elf_arch(&b) {
            Ok(a) if a == arch => return Ok(binary(b.into())),
            Ok(a) => tried.push(format!("{} (for {a})", p.display())),
            Err(why) => tried.push(format!("{} ({why})", p.display())),
        }
    }
    Err(fail(
        Kind::Usage,
        format!(
            "no static dhow-proxy binary for linux/{arch} to make the proxy image ({}). Install \
             a dhow built with that architecture's Rust target and C cross-compiler (see the \
             README's install section), set proxy.image to a dhow-proxy image for linux/{arch}, \
             or point DHOW_PROXY_BINARY at a static dhow-proxy for it",
            tried.join("; ")
        ),
    ))
}

/// The binary for `arch`, found once per run.
pub fn binary_for(arch: &str) -> anyhow::Result<Binary> {
    static FOUND: Mutex<Option<HashMap<String, Binary>>> = Mutex::new(None);
    let mut found = FOUND
        .lock()
        .map_err(|_| fail(Kind::Internal, "proxy binary cache poisoned"))?;
    let found = found.get_or_insert_with(HashMap::new);
    if let Some(b) = found.get(arch) {
        return Ok(b.clone());
    }
    let b = find(arch)?;
    found.insert(arch.to_string(), b.clone());
    Ok(b)
}

/// The tag of the image dhow makes for `arch`: dhow's version and the first 12 hex digits of
/// that binary's SHA-256, so a host gets the new image whenever the binary changes (a changed
/// binary under an old tag would never reach hosts that already have that tag).
pub fn tag_for(arch: &str) -> anyhow::Result<String> {
    let b = binary_for(arch)?;
    Ok(format!(
        "dhow-proxy:{}-{}",
        env!("CARGO_PKG_VERSION"),
        &b.digest[..12]
    ))
}

/// The proxy image archive for `arch`, tagged `tag`.
pub fn archive(arch: &str, tag: &str) -> anyhow::Result<Archive> {
    let b = binary_for(arch)?;
    let image = ScratchImage {
        binary: b.bytes.to_vec(),
        path_in_image: "dhow-proxy".into(),
        repo_tag: tag.to_string(),
        entrypoint: vec!["/dhow-proxy".into()],
        cmd: vec!["run".into()],
        env: Vec::new(),
        labels: [(
            "dhow.proxy.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]
        .into(),
        arch: arch.to_string(),
    };
    scratch::image_tar(&image)
}

/// The proxy images for hosts that lack theirs: each architecture's archive is made once per
/// run (on the first host that needs it) and loaded into each such host's engine over that
/// host's connection. `registry` is the app's registry, for a `proxy.image` kept there.
#[derive(Clone, Default)]
pub struct ProxyImage {
    archives: Arc<Mutex<HashMap<String, Archive>>>,
    pub registry: Option<crate::image::pull::RegistryAccess>,
}

impl std::fmt::Debug for ProxyImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyImage")
    }
}

impl ProxyImage {
    /// Proxy images for this run; `registry` is the app's, for a `proxy.image` kept there.
    pub fn new(registry: Option<crate::image::pull::RegistryAccess>) -> ProxyImage {
        ProxyImage {
            registry,
            ..ProxyImage::default()
        }
    }

    /// Load the image for `arch`, tagged `tag`, into `docker`.
    pub async fn load(
        &self,
        docker: &bollard::Docker,
        arch: &str,
        tag: &str,
    ) -> anyhow::Result<()> {
        let cached = self
            .archives
            .lock()
            .map_err(|_| fail(Kind::Internal, "proxy image cache poisoned"))?
            .get(arch)
            .cloned();
        let archive = match cached {
            Some(a) => a,
            None => {
                let a = archive(arch, tag)?;
                if let Ok(mut m) = self.archives.lock() {
                    m.insert(arch.to_string(), a.clone());
                }
                a
            }
        };
        scratch::load(docker, &archive, tag).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_and_garbage_is_not_static() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(static_elf_arch(&exe).unwrap_err().contains("dynamically"));
        assert!(static_elf_arch(
            b"not an elf at all, just some bytes padding padding padding padding"
        )
        .is_err());
    }

    #[test]
    fn a_missing_architecture_names_what_was_tried_and_the_ways_out() {
        let e = format!("{:#}", find("riscv64").err().unwrap());
        assert!(e.contains("linux/riscv64"), "{e}");
        assert!(e.contains("proxy.image"), "{e}");
    }
}
