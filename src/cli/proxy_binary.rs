//! `dhow proxy binary`: writes the static dhow-proxy binary this dhow carries (or finds) for
//! an architecture, for teams that build a proxy image of their own (`proxy.image`).

use super::context::Ctx;
use crate::error::{fail, Kind};

/// `proxy binary`: the carried (or found) static proxy binary for `arch`, written to `output`.
pub fn write(ctx: &Ctx, arch: &str, output: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let arch = crate::docker::arch::platform_name(arch);
    let binary = crate::proxy::image::binary_for(&arch)?;
    let io = |e: std::io::Error| fail(Kind::Usage, format!("{}: {e}", output.display()));
    std::fs::write(output, &binary.bytes[..]).map_err(io)?;
    std::fs::set_permissions(output, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    ctx.out.info(format!(
        "wrote the linux/{arch} dhow-proxy ({:.1} MB, sha256 {}) to {}",
        binary.bytes.len() as f64 / 1e6,
        binary.digest,
        output.display()
    ));
    Ok(())
}
