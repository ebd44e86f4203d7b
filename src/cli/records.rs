//! The typed objects data commands print with `--json` (through `Output::data`): one per host
//! (per accessory and host for accessories), with the fields a script reads. Their human
//! rendering stays in each command; the shapes are listed in the README ("JSON output").

use crate::docker::containers::AppContainer;
use serde::Serialize;

/// One app container (`app details|containers|version`, `versions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub version: String,
    pub role: String,
    pub running: bool,
    /// The engine's state: running, exited, created, restarting, paused, dead.
    pub state: String,
    /// When the engine created it, RFC 3339 (UTC).
    pub created: String,
}

impl From<&AppContainer> for Container {
    fn from(c: &AppContainer) -> Container {
        Container {
            name: c.name.clone(),
            image: c.image.clone(),
            version: c.version.clone(),
            role: c.role.clone(),
            running: c.running,
            state: c.state.clone(),
            created: rfc3339(c.created),
        }
    }
}

/// A role's containers on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleContainers {
    pub role: String,
    /// The version that runs (the newest running container's); null when nothing runs.
    pub version: Option<String>,
    pub containers: Vec<Container>,
}

impl RoleContainers {
    /// `list` newest first (as `service_containers` gives it); only the running ones when
    /// `running_only`.
    pub fn new(role: &str, list: &[AppContainer], running_only: bool) -> RoleContainers {
        RoleContainers {
            role: role.to_string(),
            version: list.iter().find(|c| c.running).map(|c| c.version.clone()),
            containers: list
                .iter()
                .filter(|c| c.running || !running_only)
                .map(Container::from)
                .collect(),
        }
    }
}

/// One host's roles (`app details|containers|version`, `versions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRoles {
    pub host: String,
    pub roles: Vec<RoleContainers>,
}

impl HostRoles {
    /// Rows of (host, role, containers) in host order grouped into one record per host.
    pub fn group(rows: &[(String, String, Vec<AppContainer>)], running_only: bool) -> Vec<Self> {
        let mut hosts: Vec<HostRoles> = Vec::new();
        for (host, role, list) in rows {
            let entry = RoleContainers::new(role, list, running_only);
            match hosts.last_mut() {
                Some(h) if &h.host == host => h.roles.push(entry),
                _ => hosts.push(HostRoles {
                    host: host.clone(),
                    roles: vec![entry],
                }),
            }
        }
        hosts
    }
}

/// One tag of an app image on a host (`app images`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    pub tag: String,
    pub size_bytes: i64,
}

/// `app images`: the app's images on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostImages {
    pub host: String,
    pub images: Vec<Image>,
}

/// A container that runs beside its role's current one (`app stale_containers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stale {
    pub role: String,
    pub container: String,
    pub version: String,
    /// The role's current container (the routed one, else the newest running one).
    pub current: Option<String>,
    /// Stopped by `--stop`.
    pub stopped: bool,
}

/// `app stale_containers`: one host's stale containers (none: an empty list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStale {
    pub host: String,
    pub stale: Vec<Stale>,
}

/// `prune`: what went on one host. A part not asked for (`prune images` has no containers)
/// is left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pruned {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<PrunedRole>>,
    /// Image tags removed (the app's, and old dhow-proxy images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Bytes freed by removing the app's untagged (dangling) images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged_bytes: Option<i64>,
}

/// `prune`: one role's removed containers and how many stopped ones were kept at most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunedRole {
    pub role: String,
    pub removed: Vec<String>,
    pub retain: usize,
}

/// A mount of an accessory's container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    /// bind, volume, tmpfs, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The volume's name, else the host path.
    pub source: String,
    pub destination: String,
}

/// A port an accessory publishes on its host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    pub ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

impl From<&crate::config::types::Publish> for Port {
    fn from(p: &crate::config::types::Publish) -> Port {
        Port {
            ip: p.ip.clone(),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.proto.clone(),
        }
    }
}

/// `accessory details`: one accessory on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accessory {
    pub host: String,
    pub accessory: String,
    pub container: String,
    /// Its container exists on the host (else the fields below are empty).
    pub booted: bool,
    pub running: bool,
    /// The engine's state (running, exited, ...); null when not booted.
    pub state: Option<String>,
    /// The image the container runs; null when not booted.
    pub image: Option<String>,
    /// The image the config names (a reboot moves the container to it).
    pub config_image: String,
    pub port: Option<Port>,
    pub mounts: Vec<Mount>,
}

/// Unix seconds as RFC 3339 (UTC); the number itself when out of range.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, role: &str, version: &str, running: bool, created: i64) -> AppContainer {
        AppContainer {
            name: name.into(),
            version: version.into(),
            role: role.into(),
            running,
            state: if running { "running" } else { "exited" }.into(),
            created,
            image: format!("app:{version}"),
        }
    }

    #[test]
    fn a_host_s_roles_are_one_record_with_typed_containers() {
        let rows = vec![
            (
                "h1".to_string(),
                "web".to_string(),
                vec![
                    c("app-web-v2", "web", "v2", true, 1_767_225_600),
                    c("app-web-v1", "web", "v1", false, 0),
                ],
            ),
            ("h1".into(), "job".into(), vec![]),
            (
                "h2".into(),
                "web".into(),
                vec![c("app-web-v2", "web", "v2", false, 5)],
            ),
        ];
        let all = HostRoles::group(&rows, false);
        assert_eq!(all.len(), 2);
        let v = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(v["host"], "h1");
        assert_eq!(v["roles"][0]["role"], "web");
        assert_eq!(v["roles"][0]["version"], "v2");
        assert_eq!(v["roles"][0]["containers"][0]["name"], "app-web-v2");
        assert_eq!(v["roles"][0]["containers"][0]["running"], true);
        assert_eq!(v["roles"][0]["containers"][0]["state"], "running");
        assert_eq!(
            v["roles"][0]["containers"][0]["created"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(v["roles"][0]["containers"][1]["state"], "exited");
        assert_eq!(v["roles"][1]["version"], serde_json::Value::Null);
        assert_eq!(v["roles"][1]["containers"], serde_json::json!([]));
        // Nothing runs on h2: no version, and running_only leaves no container.
        let running = HostRoles::group(&rows, true);
        assert_eq!(running[0].roles[0].containers.len(), 1);
        assert!(running[1].roles[0].containers.is_empty());
        assert_eq!(running[1].roles[0].version, None);
    }

    #[test]
    fn prune_leaves_out_the_parts_not_asked_for() {
        let images_only = Pruned {
            host: "h".into(),
            images: Some(vec!["app:v1".into()]),
            untagged_bytes: Some(0),
            ..Pruned::default()
        };
        let v = serde_json::to_value(&images_only).unwrap();
        assert!(v.get("containers").is_none(), "{v}");
        assert_eq!(v["images"][0], "app:v1");
        assert_eq!(v["untagged_bytes"], 0);
    }

    #[test]
    fn an_accessory_port_and_mounts_are_fields() {
        let publish = crate::config::types::Publish::parse("15432:5432").unwrap();
        let a = Accessory {
            host: "h".into(),
            accessory: "db".into(),
            container: "app-db".into(),
            booted: true,
            running: true,
            state: Some("running".into()),
            image: Some("postgres:16".into()),
            config_image: "postgres:16".into(),
            port: Some(Port::from(&publish)),
            mounts: vec![Mount {
                kind: Some("volume".into()),
                source: "pgdata".into(),
                destination: "/var/lib/postgresql/data".into(),
            }],
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["port"]["host_port"], 15432);
        assert_eq!(v["port"]["container_port"], 5432);
        assert_eq!(v["port"]["ip"], "127.0.0.1");
        assert_eq!(v["port"]["protocol"], "tcp");
        assert_eq!(v["mounts"][0]["type"], "volume");
    }

    #[test]
    fn times_out_of_range_stay_numbers() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
