//! The proxy's state file: the routes, written atomically (temp file, fsync, rename, fsync of
//! the folder) after every change and read at start. A corrupt file is reported and set aside,
//! never a reason not to start.

use crate::router::{HealthSpec, Mode, Service, Table, Target};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct State {
    pub services: Vec<SavedService>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedService {
    pub name: String,
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub strip_prefix: bool,
    #[serde(default)]
    pub health: HealthSpec,
    pub target: String,
    /// `live` (default), `paused` or `stopped`.
    #[serde(default)]
    pub mode: SavedMode,
    /// The maintenance message of a stopped service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// PEM files of the service's certificate (read again at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    #[serde(default = "yes")]
    pub tls_redirect: bool,
    /// Certificates from ACME (kept in the state directory's acme/).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acme: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SavedMode {
    #[default]
    Live,
    Paused,
    Stopped,
}

impl SavedService {
    fn mode(&self) -> Mode {
        match self.mode {
            SavedMode::Live => Mode::Live,
            SavedMode::Paused => Mode::Paused,
            SavedMode::Stopped => Mode::Stopped {
                message: self.message.clone(),
            },
        }
    }
}

impl State {
    pub fn of(table: &Table) -> State {
        State {
            services: table
                .services
                .iter()
                .map(|s| SavedService {
                    name: s.name.clone(),
                    hosts: s.hosts.clone(),
                    path_prefix: s.path_prefix.clone(),
                    strip_prefix: s.strip_prefix,
                    health: s.health.clone(),
                    target: s.target.addr.clone(),
                    mode: match s.mode {
                        Mode::Live => SavedMode::Live,
                        Mode::Paused => SavedMode::Paused,
                        Mode::Stopped { .. } => SavedMode::Stopped,
                    },
                    message: match &s.mode {
                        Mode::Stopped { message } => message.clone(),
                        _ => None,
                    },
                    tls_cert: s.tls.as_ref().map(|t| t.cert_path.clone()),
                    tls_key: s.tls.as_ref().map(|t| t.key_path.clone()),
                    tls_redirect: s.tls_redirect,
                    acme: s.acme,
                })
                .collect(),
        }
    }

    /// The table this state describes; targets start not ready (to be health-checked).
    /// A certificate that cannot be read any more is reported and its service served
    /// without TLS.
    pub fn table(&self) -> (Table, Vec<String>) {
        let mut problems = Vec::new();
        let table = Table {
            services: self
                .services
                .iter()
                .map(|s| Service {
                    name: s.name.clone(),
                    hosts: s.hosts.clone(),
                    path_prefix: s.path_prefix.clone(),
                    strip_prefix: s.strip_prefix,
                    health: s.health.clone(),
                    target: Target::new(s.target.clone(), false),
                    mode: s.mode(),
                    stats: crate::metrics::Stats::new(),
                    tls: match (&s.tls_cert, &s.tls_key) {
                        (Some(c), Some(k)) => match crate::tls::load(c, k) {
                            Ok(t) => Some(t),
                            Err(e) => {
                                problems.push(format!(
                                    "service {}: certificate not loaded, serving it without TLS: {e}",
                                    s.name
                                ));
                                None
                            }
                        },
                        _ => None,
                    },
                    tls_redirect: s.tls_redirect,
                    acme: s.acme,
                })
                .collect(),
        };
        (table, problems)
    }
}

/// Write the state atomically.
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes, 0o644)
}

/// Write a file atomically (temp file with `mode`, fsync, rename, fsync the directory): a
/// reader sees the old contents or the new, never half of them.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Read the state. Missing: empty. Unreadable or corrupt: empty, the file renamed aside and
/// the problem returned for the log.
pub fn load(path: &Path) -> (State, Option<String>) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (State::default(), None),
        Err(e) => {
            return (
                State::default(),
                Some(format!(
                    "cannot read state file {}: {e}; starting with no routes",
                    path.display()
                )),
            )
        }
    };
    match serde_json::from_slice::<State>(&bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
            let _ = std::fs::rename(path, &aside);
            (
                State::default(),
                Some(format!(
                    "state file {} is corrupt ({e}); moved it to {} and started with no routes: deploy again to restore them",
                    path.display(),
                    aside.display()
                )),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let s = State {
            services: vec![SavedService {
                name: "a".into(),
                hosts: vec!["a.test".into()],
                path_prefix: None,
                strip_prefix: false,
                health: HealthSpec::default(),
                target: "a-1:80".into(),
                mode: SavedMode::Stopped,
                message: Some("back soon".into()),
                tls_cert: None,
                tls_key: None,
                tls_redirect: true,
                acme: true,
            }],
        };
        save(&p, &s).unwrap();
        let (back, problem) = load(&p);
        assert!(problem.is_none());
        assert_eq!(back.services[0].target, "a-1:80");
        assert_eq!(
            back.services[0].mode(),
            Mode::Stopped {
                message: Some("back soon".into())
            }
        );
        std::fs::write(&p, b"{\"services\": [{\"name\": \"a\"").unwrap();
        let (empty, problem) = load(&p);
        assert!(empty.services.is_empty());
        assert!(problem.unwrap().contains("corrupt"));
        assert!(!p.exists(), "the corrupt file is moved aside");
    }
}
