//! Docker credential helpers (`credsStore`, `credHelpers` in the Docker CLI's config.json):
//! runs `docker-credential-<name> get` with the server URL on stdin and reads its JSON answer
//! `{"ServerURL","Username","Secret"}`, as the Docker CLI does. "credentials not found" means
//! none; a `Username` of `<token>` makes the secret an identity token. The helper runs under a
//! timeout; the secret is never put in arguments or error messages (the helper's output is
//! never quoted back, since it may hold one).

use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::auth::DockerCredentials;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a helper may take (a keychain prompt on a desktop can take a while).
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the helper answers when it holds nothing for the server (the protocol's fixed text).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The program name of helper `name`.
pub fn program_name(name: &str) -> String {
    format!("docker-credential-{name}")
}

/// `docker-credential-<name>` found on `$PATH`, or None.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let program = program_name(name);
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(&program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Ask helper `name` (looked up on `$PATH`) for `server_url`'s credentials.
pub fn get(name: &str, server_url: &str) -> Result<Option<DockerCredentials>> {
    let Some(program) = find_on_path(name) else {
        return Err(fail(
            Kind::Config,
            format!(
                "the Docker config names the credential helper `{name}`, but {} is not on PATH; \
                 install it, or remove it from ~/.docker/config.json and run `docker login`",
                program_name(name)
            ),
        ));
    };
    get_with(&program, server_url, TIMEOUT)
}

/// Run `program get` for `server_url` (the testable core of [`get`]).
pub fn get_with(
    program: &Path,
    server_url: &str,
    timeout: Duration,
) -> Result<Option<DockerCredentials>> {
    let shown = program.display();
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(Kind::Config, format!("cannot run {shown}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input closes the pipe: not an error here,
        // its exit status and output tell.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(1 << 20).read_to_end(&mut out);
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(
                    Kind::Config,
                    format!(
                        "credential helper {shown} did not answer for {server_url} within {}s",
                        timeout.as_secs()
                    ),
                ));
            }
            Err(e) => return Err(fail(Kind::Config, format!("waiting for {shown}: {e}"))),
        }
    };
    let out = reader.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        if text.trim() == NOT_FOUND {
            return Ok(None);
        }
        return Err(fail(
            Kind::Config,
            format!(
                "credential helper {shown} failed for {server_url} ({status}); its output is not \
                 shown (it may hold a secret); run `{shown} get` with the URL on stdin to see it"
            ),
        ));
    }
    parse(&text, server_url).map_err(|what| {
        fail(
            Kind::Config,
            format!("credential helper {shown} answered for {server_url} with {what}"),
        )
    })
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The helper's JSON answer as engine credentials. The error says what was wrong, never
/// what the output held.
fn parse(text: &str, server_url: &str) -> std::result::Result<Option<DockerCredentials>, String> {
    if text.trim() == NOT_FOUND {
        return Ok(None);
    }
    let answer: Answer = serde_json::from_str(text.trim()).map_err(|_| {
        "output that is not the protocol's JSON {\"ServerURL\",\"Username\",\"Secret\"}".to_string()
    })?;
    if answer.secret.is_empty() {
        return Err("an empty Secret".to_string());
    }
    let mut creds = DockerCredentials {
        serveraddress: Some(server_url.to_string()),
        ..Default::default()
    };
    if answer.username == "<token>" {
        creds.identitytoken = Some(answer.secret);
    } else {
        creds.username = Some(answer.username);
        creds.password = Some(answer.secret);
    }
    Ok(Some(creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in helper: a shell script in a temp dir (not a real credential store).
    fn standin(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("docker-credential-standin");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    const T: Duration = Duration::from_secs(20);

    /// `get_with`, retried when the freshly written script is still open for writing in a
    /// process another test thread forked (Linux's ETXTBSY race between parallel tests).
    fn get_with(p: &Path, url: &str, t: Duration) -> Result<Option<DockerCredentials>> {
        for _ in 0..20 {
            match super::get_with(p, url, t) {
                Err(e) if e.to_string().contains("Text file busy") => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                other => return other,
            }
        }
        super::get_with(p, url, t)
    }

    #[test]
    fn an_answer_becomes_credentials_and_the_url_arrives_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let helper = standin(
            dir.path(),
            r#"[ "$1" = get ] || exit 9
url=$(cat)
[ "$url" = "reg.example:5000" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"dhow","Secret":"s3cret"}\n' "$url""#,
        );
        let creds = get_with(&helper, "reg.example:5000", T).unwrap().unwrap();
        assert_eq!(creds.username.as_deref(), Some("dhow"));
        assert_eq!(creds.password.as_deref(), Some("s3cret"));
        assert_eq!(creds.serveraddress.as_deref(), Some("reg.example:5000"));
        assert!(get_with(&helper, "other.example", T).unwrap().is_none());
    }

    #[test]
    fn a_token_username_means_an_identity_token() {
        let dir = tempfile::tempdir().unwrap();
        let helper = standin(
            dir.path(),
            r#"echo '{"ServerURL":"x","Username":"<token>","Secret":"tok"}'"#,
        );
        let creds = get_with(&helper, "x", T).unwrap().unwrap();
        assert_eq!(creds.identitytoken.as_deref(), Some("tok"));
        assert!(creds.username.is_none() && creds.password.is_none());
    }

    #[test]
    fn a_not_found_answer_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let helper = standin(
            dir.path(),
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert!(get_with(&helper, "x", T).unwrap().is_none());
    }

    #[test]
    fn malformed_output_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let helper = standin(dir.path(), "echo 'Secret: hunter2'");
        let err = get_with(&helper, "x", T).unwrap_err().to_string();
        assert!(err.contains("not the protocol's JSON"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let failing = standin(dir.path(), "echo 'oops hunter2'; exit 2");
        let err = get_with(&failing, "x", T).unwrap_err().to_string();
        assert!(err.contains("failed for x"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_missing_helper_is_named() {
        let err = get("dhow-test-no-such-helper", "x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-dhow-test-no-such-helper"),
            "{err}"
        );
        assert!(err.contains("not on PATH"), "{err}");
    }

    #[test]
    fn a_helper_that_hangs_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let helper = standin(dir.path(), "exec sleep 60");
        let err = get_with(&helper, "x", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not answer"), "{err}");
    }
}
