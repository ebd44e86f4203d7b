//! Build script: builds the static `dhow-proxy` binaries dhow carries inside itself (Linux
//! x86_64 and aarch64) and embeds them, so that `cargo install` gives a dhow that boots the
//! proxy on a fresh host of either architecture with no checkout next to it.
//!
//! Each architecture is a nested `cargo build --release -p dhow-proxy --target <triple>` with a
//! statically linked C runtime (the proxy image has no base image). An architecture whose Rust
//! target is not installed, or whose C cross-compiler is missing (ring builds C and assembly),
//! is skipped with a warning that says how to add it; dhow then says so at deploy time, for a
//! host of that architecture only.
//!
//! Environment:
//! - `DHOW_EMBED_PROXY=off`: embed nothing (the Makefile's development builds: dhow finds the
//!   `make proxy-static` binary at run time instead). Unset or `build`: build and embed.
//! - `DHOW_PROXY_TARGET_DIR`: the nested build's target folder (default: inside OUT_DIR), so a
//!   checkout can share it with `make proxy-static`.
//!
//! A nested cargo is how a build script can build another package of the workspace for other
//! targets; cargo has no artifact dependencies on stable Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (Rust target triple, Linux architecture name as Docker engines report it, C compiler
/// prefix when cross-compiling).
const TARGETS: [(&str, &str, &str); 2] = [
    ("x86_64-unknown-linux-gnu", "x86_64", "x86_64-linux-gnu-"),
    ("aarch64-unknown-linux-gnu", "aarch64", "aarch64-linux-gnu-"),
];

fn main() {
    println!("cargo:rerun-if-env-changed=DHOW_EMBED_PROXY");
    println!("cargo:rerun-if-env-changed=DHOW_PROXY_TARGET_DIR");
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    for p in [
        "proxy/src",
        "proxy/Cargo.toml",
        "proxy-api/src",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", manifest.join(p).display());
    }
    let out = PathBuf::from(env("OUT_DIR"));
    let mode = std::env::var("DHOW_EMBED_PROXY").unwrap_or_default();
    let mut embedded = Vec::new();
    if mode != "off" {
        if !manifest.join("proxy/Cargo.toml").is_file() {
            println!(
                "cargo:warning=no proxy/ source next to dhow's: no dhow-proxy binary embedded"
            );
        } else {
            let target_dir = std::env::var_os("DHOW_PROXY_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| out.join("proxy-target"));
            for (triple, arch, prefix) in TARGETS {
                match build_proxy(&manifest, &target_dir, triple, prefix) {
                    Ok(bin) => embedded.push((arch, bin)),
                    Err(why) => println!(
                        "cargo:warning=no {arch} dhow-proxy embedded ({why}); hosts of that \
                         architecture need proxy.image"
                    ),
                }
            }
        }
    }
    let mut code = String::from(
        "/// The static dhow-proxy binaries this dhow carries: (architecture, bytes).\n\
         pub static EMBEDDED: &[(&str, &[u8])] = &[\n",
    );
    for (arch, bin) in &embedded {
        code.push_str(&format!("    ({arch:?}, include_bytes!({:?})),\n", bin));
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(out.join("embedded_proxy.rs"), code) {
        panic!("writing embedded_proxy.rs: {e}");
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// Build the static proxy for `triple`; returns the binary's path.
fn build_proxy(
    manifest: &Path,
    target_dir: &Path,
    triple: &str,
    cc_prefix: &str,
) -> Result<PathBuf, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
    {
        return Err(format!(
            "the Rust target {triple} is not installed: rustup target add {triple}"
        ));
    }
    let host_arch = std::env::consts::ARCH;
    let native = triple.starts_with(host_arch) && cfg!(target_os = "linux");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // What the outer cargo set for this build script must not leak into the nested build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let leaks = k.starts_with("CARGO_FEATURE_")
            || k.starts_with("CARGO_CFG_")
            || matches!(
                k.as_str(),
                "CARGO_ENCODED_RUSTFLAGS"
                    | "RUSTFLAGS"
                    | "CARGO_BUILD_RUSTFLAGS"
                    | "CARGO_TARGET_DIR"
                    | "CARGO_BUILD_TARGET"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "TARGET"
                    | "HOST"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
            );
        if leaks {
            cmd.env_remove(&k);
        }
    }
    if !native {
        let gcc = format!("{cc_prefix}gcc");
        if Command::new(&gcc).arg("--version").output().is_err() {
            return Err(format!(
                "no C cross-compiler {gcc} (Debian: apt-get install gcc-{}",
                cc_prefix.trim_end_matches('-').replace('_', "-")
            ) + ")");
        }
        let var = triple.to_uppercase().replace('-', "_");
        cmd.env(format!("CARGO_TARGET_{var}_LINKER"), &gcc);
        cmd.env(format!("CC_{}", triple.replace('-', "_")), &gcc);
        cmd.env(
            format!("AR_{}", triple.replace('-', "_")),
            format!("{cc_prefix}ar"),
        );
    }
    cmd.env("RUSTFLAGS", "-C target-feature=+crt-static")
        .arg("build")
        .arg("--release")
        .args(["-p", "dhow-proxy", "--target", triple])
        .arg("--manifest-path")
        .arg(manifest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    let status = cmd
        .status()
        .map_err(|e| format!("running the nested cargo build: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build -p dhow-proxy --target {triple} failed"
        ));
    }
    let bin = target_dir.join(triple).join("release/dhow-proxy");
    if !bin.is_file() {
        return Err(format!("{} was not built", bin.display()));
    }
    Ok(bin)
}
