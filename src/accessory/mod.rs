//! Accessories: long-lived containers next to the app (a database, a cache) that deploys do
//! not touch. This module holds what an accessory is once the config is resolved, its
//! container's name, labels and Docker create body, and where its files live on a host (pure;
//! no I/O). `from_config` resolves them from the config, `place` puts files and directories on
//! a host, `image` gets the image there, `ops` runs the lifecycle on one host.

pub mod from_config;
pub mod image;
pub mod ops;
pub mod place;

use crate::docker::network::NETWORK;
use crate::docker::spec::apply_option;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};

pub use crate::docker::labels::{LABEL_ACCESSORY, LABEL_OWNER};

/// A port published on the host (parsed with the config, which checks it).
pub use crate::config::types::Publish;

/// A file uploaded to the host and mounted into the container.
#[derive(Clone)]
pub struct FileSpec {
    /// The local file it came from (for messages).
    pub local: String,
    /// Where the container sees it.
    pub container_path: String,
    /// Rendered contents (templates may hold secrets: never printed).
    pub contents: SecretString,
    pub mode: u32,
    /// `uid[:gid]` as the container sees it.
    pub owner: Option<String>,
}

impl std::fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSpec")
            .field("local", &self.local)
            .field("container_path", &self.container_path)
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// An accessory with its selected hosts and resolved settings.
#[derive(Debug, Clone)]
pub struct AccessorySettings {
    pub name: String,
    /// `<service>-<name>[-<destination>]`: the container's name, and its name on the network.
    pub container: String,
    /// `<service>[-<destination>]`: whose accessory it is; names its directory on hosts.
    pub owner: String,
    pub image: String,
    /// The selected hosts it runs on.
    pub hosts: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub port: Option<Publish>,
    pub env: Vec<(String, String)>,
    pub secret_env: Vec<(String, SecretString)>,
    /// docker-run style `-v` values: `pgdata:/var/lib/postgresql/data`, `/srv/x:/x:ro`.
    pub volumes: Vec<String>,
    pub files: Vec<FileSpec>,
    /// (host directory as written, container path).
    pub directories: Vec<(String, String)>,
    pub options: BTreeMap<String, Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub network: String,
}

impl AccessorySettings {
    /// The accessory's directory on a host, relative to the SSH user's home.
    pub fn host_dir(&self) -> String {
        format!(
            "{}/accessories/{}",
            crate::host::state_dir::dir(&self.owner),
            self.name
        )
    }

    /// Where an uploaded file lives on the host, below `home`.
    pub fn host_file(&self, home: &str, f: &FileSpec) -> String {
        format!(
            "{home}/{}/files/{}",
            self.host_dir(),
            f.container_path.trim_start_matches('/')
        )
    }

    /// A directory's path on the host: absolute as written, else below the accessory's
    /// directory.
    pub fn host_directory(&self, home: &str, dir: &str) -> String {
        if dir.starts_with('/') {
            dir.to_string()
        } else {
            format!("{home}/{}/{dir}", self.host_dir())
        }
    }

    /// Named Docker volumes among `volumes` (kept on remove: they hold data).
    pub fn named_volumes(&self) -> Vec<String> {
        self.volumes
            .iter()
            .filter_map(|v| v.split(':').next())
            .filter(|src| !src.starts_with('/') && !src.starts_with('.'))
            .map(str::to_string)
            .collect()
    }

    pub fn labels(&self) -> HashMap<String, String> {
        let mut l: HashMap<String, String> = self.labels.clone().into_iter().collect();
        l.insert(LABEL_ACCESSORY.into(), self.name.clone());
        l.insert(LABEL_OWNER.into(), self.owner.clone());
        l
    }

    /// The create body for the Docker API; `home` is the SSH user's home on that host.
    pub fn create_body(&self, home: &str) -> anyhow::Result<ContainerCreateBody> {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(
            self.secret_env
                .iter()
                .map(|(k, v)| format!("{k}={}", v.expose_secret())),
        );
        let mut binds = self.volumes.clone();
        binds.extend(
            self.files
                .iter()
                .map(|f| format!("{}:{}", self.host_file(home, f), f.container_path)),
        );
        binds.extend(
            self.directories
                .iter()
                .map(|(h, c)| format!("{}:{c}", self.host_directory(home, h))),
        );
        let mut host = HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: Some(self.network.clone()),
            binds: (!binds.is_empty()).then_some(binds),
            ..Default::default()
        };
        let mut body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: self.cmd.clone(),
            env: Some(env),
            labels: Some(self.labels()),
            ..Default::default()
        };
        if let Some(p) = &self.port {
            body.exposed_ports = Some(vec![p.container_key()]);
            host.port_bindings = Some(HashMap::from([(
                p.container_key(),
                Some(vec![PortBinding {
                    host_ip: Some(p.ip.clone()),
                    host_port: Some(p.host_port.to_string()),
                }]),
            )]));
        }
        for (key, values) in &self.options {
            if key == "volume" {
                // Merge with volumes/files/directories rather than replace them.
                let mut b = host.binds.take().unwrap_or_default();
                b.extend(values.iter().cloned());
                host.binds = Some(b);
                continue;
            }
            apply_option(&mut body, &mut host, key, values)?;
        }
        body.host_config = Some(host);
        Ok(body)
    }
}

/// The default network accessories join: the app's, so the app reaches them by name.
pub fn default_network() -> String {
    NETWORK.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> AccessorySettings {
        AccessorySettings {
            name: "db".into(),
            container: "demo-db".into(),
            owner: "demo".into(),
            image: "pg:16".into(),
            hosts: vec!["10.0.0.1".into()],
            cmd: None,
            port: Publish::parse("5432"),
            env: vec![("POSTGRES_USER".into(), "app".into())],
            secret_env: vec![("POSTGRES_PASSWORD".into(), SecretString::from("hush"))],
            volumes: vec!["pgdata:/var/lib/postgresql/data".into()],
            files: vec![FileSpec {
                local: "config/init.sql".into(),
                container_path: "/docker-entrypoint-initdb.d/init.sql".into(),
                contents: SecretString::from("create table t();"),
                mode: 0o644,
                owner: None,
            }],
            directories: vec![("backups".into(), "/backups".into())],
            options: BTreeMap::from([("memory".into(), vec!["256m".into()])]),
            labels: BTreeMap::new(),
            network: default_network(),
        }
    }

    #[test]
    fn body_mounts_files_directories_and_volumes() {
        let a = sample();
        let b = a.create_body("/root").unwrap();
        let hc = b.host_config.clone().unwrap();
        let binds = hc.binds.unwrap();
        assert!(binds.contains(&"pgdata:/var/lib/postgresql/data".to_string()));
        assert!(binds.contains(
            &"/root/.dhow/demo/accessories/db/files/docker-entrypoint-initdb.d/init.sql:/docker-entrypoint-initdb.d/init.sql".to_string()
        ));
        assert!(binds.contains(&"/root/.dhow/demo/accessories/db/backups:/backups".to_string()));
        let ports = hc.port_bindings.unwrap();
        let bound = ports["5432/tcp"].clone().unwrap();
        assert_eq!(bound[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(hc.memory, Some(256 << 20));
        assert_eq!(hc.network_mode.as_deref(), Some("dhow"));
        let labels = b.labels.unwrap();
        assert_eq!(labels[LABEL_ACCESSORY], "db");
        assert!(
            !labels.contains_key(crate::docker::labels::LABEL_SERVICE),
            "an accessory must never look like an app container"
        );
        assert!(b
            .env
            .unwrap()
            .contains(&"POSTGRES_PASSWORD=hush".to_string()));
        assert!(!format!("{a:?}").contains("hush"));
        assert!(!format!("{a:?}").contains("create table"));
        assert_eq!(a.named_volumes(), vec!["pgdata".to_string()]);
    }
}
