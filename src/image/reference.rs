//! Image references (`[registry/]repo[:tag]`): split off the tag, find the registry.

/// Docker Hub's name, used when a reference names no registry.
pub const DOCKER_HUB: &str = "docker.io";

/// Split `repo:tag` into the repository and the tag (None when there is no tag). A `:` that
/// belongs to a registry port (`host:5000/app`) is not a tag separator.
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let name = reference.split('@').next().unwrap_or(reference);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    }
}

/// The registry a reference lives in: its first component when that looks like a host
/// (has a `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => DOCKER_HUB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_without_confusing_ports() {
        assert_eq!(split_tag("app:v1"), ("app", Some("v1")));
        assert_eq!(split_tag("app"), ("app", None));
        assert_eq!(
            split_tag("127.0.0.1:5000/team/app:abc"),
            ("127.0.0.1:5000/team/app", Some("abc"))
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/team/app", None)
        );
    }

    #[test]
    fn registries_are_found_or_default_to_docker_hub() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/org/app"), "ghcr.io");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("org/app:1"), DOCKER_HUB);
        assert_eq!(registry_of("app"), DOCKER_HUB);
    }
}
