//! Registry credentials: from the deploy config (username + secret password), or, when no
//! password is configured, as the Docker CLI has them: its `config.json`'s credential helper
//! (`credential_helper.rs`) or its `auths`. The password
//! is exposed only while building the credentials handed to the engine; it is never logged.

use super::reference::DOCKER_HUB;
use crate::error::{fail, Kind};
use anyhow::Result;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

/// The key Docker Hub's credentials have in `config.json`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A registry login as configured (`registry.username`, `registry.password`).
#[derive(Clone)]
pub struct Login {
    pub username: String,
    /// None: look for the registry in the Docker CLI's config.json.
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// Credentials resolved for one registry; `user` is what error messages may name.
pub struct Resolved {
    pub credentials: Option<DockerCredentials>,
    /// The user name, or a description of where credentials came from, for messages.
    pub user: String,
}

/// The credentials to send for `registry`: the configured login when it has a password,
/// else the Docker CLI's config.json, else none (anonymous).
pub fn resolve(registry: &str, login: Option<&Login>) -> Result<Resolved> {
    if let Some(Login {
        username,
        password: Some(password),
    }) = login
    {
        return Ok(Resolved {
            credentials: Some(DockerCredentials {
                username: Some(username.clone()),
                password: Some(password.expose_secret().to_string()),
                serveraddress: Some(server_address(registry)),
                ..Default::default()
            }),
            user: username.clone(),
        });
    }
    let from_file = match docker_config_path() {
        Some(path) => from_docker_config(&path, registry)?,
        None => None,
    };
    match from_file {
        Some(credentials) => {
            let user = credentials
                .username
                .clone()
                .unwrap_or_else(|| "the user of ~/.docker/config.json".to_string());
            if let Some(wanted) = login.map(|l| &l.username) {
                if credentials.username.as_ref() != Some(wanted) {
                    return Err(fail(
                        Kind::Config,
                        format!(
                            "registry {registry}: the config names user {wanted} but \
                             ~/.docker/config.json has credentials for {user}; set \
                             registry.password or run `docker login {registry}` as {wanted}"
                        ),
                    ));
                }
            }
            Ok(Resolved {
                credentials: Some(credentials),
                user,
            })
        }
        None => Ok(Resolved {
            credentials: None,
            user: login
                .map(|l| format!("{} (no password configured)", l.username))
                .unwrap_or_else(|| "anonymous".to_string()),
        }),
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The registry's address as the engine expects it in credentials.
fn server_address(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// `https://host:port/v1/` -> `host:port`; Docker Hub's aliases -> `docker.io`.
fn normalize(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// Read credentials for `registry` from a Docker CLI config file: its credential helper
/// (`credHelpers`, `credsStore`) through `docker-credential-*`, else its `auths`. A missing
/// file or entry is `None`.
pub fn from_docker_config(path: &Path, registry: &str) -> Result<Option<DockerCredentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(fail(
                Kind::Config,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        fail(
            Kind::Config,
            format!("{} is not valid JSON: {e}", path.display()),
        )
    })?;
    let wanted = normalize(registry);
    // As the Docker CLI: a `credHelpers` entry for the registry, else `credsStore`, is
    // asked first; `auths` (plain `auth` entries) is read when no helper holds any.
    let helper = json
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| {
            h.iter()
                .find(|(key, _)| normalize(key) == wanted)
                .and_then(|(_, v)| v.as_str())
        })
        .or_else(|| json.get("credsStore").and_then(|s| s.as_str()))
        .filter(|name| !name.is_empty());
    if let Some(helper) = helper {
        if let Some(creds) = super::credential_helper::get(helper, &server_address(registry))? {
            return Ok(Some(creds));
        }
    }
    if let Some(auths) = json.get("auths").and_then(|a| a.as_object()) {
        for (key, entry) in auths {
            if normalize(key) != wanted {
                continue;
            }
            if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()) {
                return Ok(Some(DockerCredentials {
                    identitytoken: Some(token.to_string()),
                    serveraddress: Some(server_address(registry)),
                    ..Default::default()
                }));
            }
            let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
                continue;
            };
            let bad = || {
                fail(
                    Kind::Config,
                    format!(
                        "{}: the `auth` entry of {key} is not base64 of user:password; run \
                         `docker login {registry}` again",
                        path.display()
                    ),
                )
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(Some(DockerCredentials {
                username: Some(user.to_string()),
                password: Some(password.to_string()),
                serveraddress: Some(server_address(registry)),
                ..Default::default()
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn auths_entries_are_decoded_for_the_right_registry() {
        let auth = base64::engine::general_purpose::STANDARD.encode("dhow:s3cret");
        let file = config(&format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#
        ));
        let creds = from_docker_config(file.path(), "127.0.0.1:5000")
            .unwrap()
            .unwrap();
        assert_eq!(creds.username.as_deref(), Some("dhow"));
        assert_eq!(creds.password.as_deref(), Some("s3cret"));
        let hub = from_docker_config(file.path(), DOCKER_HUB)
            .unwrap()
            .unwrap();
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB_KEY));
        assert!(from_docker_config(file.path(), "ghcr.io")
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_missing_credential_helper_is_an_error_naming_it() {
        let file =
            config(r#"{"auths":{"ghcr.io":{}},"credHelpers":{"ghcr.io":"dhow-test-absent"}}"#);
        let err = from_docker_config(file.path(), "ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker-credential-dhow-test-absent"), "{err}");
        assert!(err.contains("not on PATH"), "{err}");
    }

    #[test]
    fn a_missing_file_means_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        assert!(from_docker_config(&dir.path().join("nope.json"), "x.io")
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_debug_form_hides_the_password() {
        let login = Login {
            username: "dhow".into(),
            password: Some(SecretString::from("hunter2".to_string())),
        };
        let shown = format!("{login:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<secret>"),
            "{shown}"
        );
    }
}
