//! What dhow calls its app containers: `<service>-<role>[-<destination>]` for a role (and its
//! proxy service) and `<prefix>-<version>` for one container of it. The container itself
//! (spec, labels, create body) is the Engine's business and lives in docker/spec.rs; it is
//! re-exported here so the deploy's own code keeps one import for "a container".

pub use crate::docker::labels::LABEL_SERVICE;
pub use crate::docker::spec::ContainerSpec;

/// `<service>-<role>[-<destination>]`: names a role's containers and its proxy service.
pub fn role_prefix(service: &str, role: &str, destination: Option<&str>) -> String {
    match destination {
        Some(d) => format!("{service}-{role}-{d}"),
        None => format!("{service}-{role}"),
    }
}

/// `<service>-<role>[-<destination>]-<version>`.
pub fn container_name(prefix: &str, version: &str) -> String {
    format!("{prefix}-{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            role_prefix("demo", "web", Some("staging")),
            "demo-web-staging"
        );
        assert_eq!(
            container_name(&role_prefix("demo", "web", None), "v1"),
            "demo-web-v1"
        );
    }
}
