//! CPU architectures as engines and images name them: the engine's (`docker info`,
//! `x86_64`/`aarch64`) and an image's (`amd64`/`arm64`), brought to Docker's platform names so
//! they compare, and the check that an image can run on a host before a container is made of
//! it (a mismatch otherwise shows up only as the container's `exec format error`).

use super::errors::timed;
use crate::error::{fail, Kind};
use bollard::Docker;

/// Docker's platform name (`amd64`, `arm64`, `arm`, `386`, ...) for an architecture as an
/// engine (uname -m) or an image config names it.
pub fn platform_name(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" | "amd64" => "amd64".into(),
        "aarch64" | "arm64" | "armv8" | "armv8l" => "arm64".into(),
        "armv7l" | "armv7" | "armv6l" | "arm" => "arm".into(),
        "i386" | "i686" | "386" => "386".into(),
        other => other.into(),
    }
}

/// The engine's architecture, as a platform name (`amd64`, `arm64`).
pub async fn engine(docker: &Docker) -> anyhow::Result<String> {
    let info = timed("docker info", docker.info()).await?;
    let arch = info.architecture.unwrap_or_default();
    if arch.is_empty() {
        return Err(fail(
            Kind::Remote,
            "the Docker engine did not say its architecture (docker info)",
        ));
    }
    Ok(platform_name(&arch))
}

/// Refuse `image` (already on the engine) when it is built for another architecture than the
/// engine's; `host` names the host in the error. An image that does not say is let through.
pub async fn check_image(docker: &Docker, host: &str, image: &str) -> anyhow::Result<()> {
    let Some(info) = super::images::inspect(docker, image).await? else {
        return Ok(());
    };
    let Some(image_arch) = info.architecture.filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let host_arch = engine(docker).await?;
    mismatch(host, &host_arch, image, &platform_name(&image_arch)).map_or(Ok(()), Err)
}

/// The error for an image of `image_arch` on a host of `host_arch`, if they differ.
fn mismatch(host: &str, host_arch: &str, image: &str, image_arch: &str) -> Option<anyhow::Error> {
    (host_arch != image_arch).then(|| {
        fail(
            Kind::Usage,
            format!(
                "{host}: the image {image} is built for linux/{image_arch}, but this host's \
                 engine runs linux/{host_arch}; build it for linux/{host_arch} \
                 (builder.arch = \"{host_arch}\") or use a multi-platform image"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_image_names_compare() {
        assert_eq!(platform_name("x86_64"), platform_name("amd64"));
        assert_eq!(platform_name("aarch64"), platform_name("arm64"));
        assert_eq!(platform_name("armv7l"), "arm");
        assert_eq!(platform_name("riscv64"), "riscv64");
    }

    #[test]
    fn a_mismatch_names_the_host_both_architectures_and_the_fix() {
        assert!(mismatch("web-1", "amd64", "app:v1", "amd64").is_none());
        let e = format!(
            "{:#}",
            mismatch("web-1", "arm64", "app:v1", "amd64").unwrap()
        );
        for part in [
            "web-1",
            "app:v1",
            "linux/amd64",
            "linux/arm64",
            "builder.arch",
        ] {
            assert!(e.contains(part), "{e}");
        }
    }
}
