//! Builds with build secrets (`builder.secrets`): those need BuildKit's session protocol,
//! which the engine's plain build API does not carry, so they go through the docker CLI:
//! `docker buildx build --load` when the buildx plugin is there, else `DOCKER_BUILDKIT=1
//! docker build` with a CLI older than 23 (whose `build` still speaks BuildKit itself). Every
//! `docker` on PATH is tried. Secret values go to files in a private directory (0700, files
//! 0600) that is removed afterwards: never into arguments, the environment or the output.

use super::build::{BuildEvent, BuildSpec};
use super::context::{self, ContextFiles};
use crate::error::{fail, Kind};
use anyhow::Result;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::collections::VecDeque;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// A whole build may take this long.
const BUILD_LIMIT: Duration = Duration::from_secs(60 * 60);
/// Lines of output kept for the error of a failed build.
const TAIL_LINES: usize = 20;

/// A docker CLI that can build with BuildKit.
#[derive(Debug, Clone)]
pub struct Cli {
    pub path: PathBuf,
    /// `docker buildx build --load`; otherwise `DOCKER_BUILDKIT=1 docker build`.
    pub buildx: bool,
}

fn quiet(path: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The first `docker` on PATH that can build with BuildKit.
pub fn find_cli() -> Option<Cli> {
    let path = std::env::var_os("PATH")?;
    let mut seen = Vec::new();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("docker");
        let Ok(real) = std::fs::canonicalize(&p) else {
            continue;
        };
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if quiet(&p, &["buildx", "version"]).is_some() {
            return Some(Cli {
                path: p,
                buildx: true,
            });
        }
        let Some(version) = quiet(&p, &["version", "--format", "{{.Client.Version}}"]) else {
            continue;
        };
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if (18..23).contains(&major) {
            return Some(Cli {
                path: p,
                buildx: false,
            });
        }
    }
    None
}

/// A directory only this user can read, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<PrivateDir> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let p = base.join(format!(
                "dhow-build-secrets-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(PrivateDir(p));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(fail(
            Kind::Internal,
            "cannot make a private directory for build secrets",
        ))
    }

    fn write(&self, name: &str, value: &SecretString) -> Result<PathBuf> {
        use std::io::Write;
        let p = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)?;
        f.write_all(value.expose_secret().as_bytes())?;
        Ok(p)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CLI arguments for `spec` (secrets as `id=NAME,src=FILE`).
fn args(
    cli: &Cli,
    spec: &BuildSpec,
    dockerfile: &str,
    secret_files: &[(String, PathBuf)],
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if cli.buildx {
        a.extend(["buildx".into(), "build".into(), "--load".into()]);
    } else {
        a.push("build".into());
    }
    a.extend(["--progress".into(), "plain".into()]);
    // The context comes as a tar on stdin (`-`), the Dockerfile named inside it.
    a.extend(["-f".into(), dockerfile.to_string()]);
    for t in &spec.tags {
        a.extend(["-t".into(), t.clone()]);
    }
    for (k, v) in &spec.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    for (k, v) in &spec.args {
        a.extend(["--build-arg".into(), format!("{k}={v}")]);
    }
    if let Some(t) = &spec.target {
        a.extend(["--target".into(), t.clone()]);
    }
    if let Some(arch) = &spec.arch {
        a.extend(["--platform".into(), super::build::platform(arch)]);
    }
    for (name, file) in secret_files {
        a.extend([
            "--secret".into(),
            format!("id={name},src={}", file.display()),
        ]);
    }
    a.push("-".into());
    a
}

/// Each build secret written to a file of `dir`: (name, file).
fn secret_files(spec: &BuildSpec, dir: &PrivateDir) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for name in &spec.secrets {
        let value = spec
            .secret_values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                fail(
                    Kind::Config,
                    format!("builder.secrets: secret {name} is not defined in .dhow/secrets*"),
                )
            })?;
        files.push((name.clone(), dir.write(name, value)?));
    }
    Ok(files)
}

/// Write the context's tar stream to the CLI's stdin (`-` context) on a task; the slot gets
/// the error that cut the stream, if any.
fn feed_context(
    stdin: Option<tokio::process::ChildStdin>,
    files: ContextFiles,
) -> (tokio::task::JoinHandle<()>, context::StreamError) {
    let (tar, stream_error) = context::tar_stream(files);
    let feeder = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (Some(mut stdin), mut tar) = (stdin, Box::pin(tar)) else {
            return;
        };
        while let Some(Ok(chunk)) = tar.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = stdin.shutdown().await;
    });
    (feeder, stream_error)
}

/// Build `spec` with its secrets through the docker CLI; returns nothing (the caller reads
/// the image ID from the engine).
pub async fn build(
    spec: &BuildSpec,
    dockerfile: &str,
    context_files: ContextFiles,
    progress: &mut impl FnMut(BuildEvent),
) -> Result<()> {
    let Some(cli) = find_cli() else {
        return Err(fail(
            Kind::Usage,
            format!(
                "builder.secrets ({}) needs BuildKit through the docker CLI, and no `docker` on \
                 PATH has it: install the buildx plugin (Debian/Ubuntu: docker-buildx or \
                 docker-buildx-plugin), or remove builder.secrets and read the secret at run \
                 time through env.secret",
                spec.secrets.join(", ")
            ),
        ));
    };
    let dir = PrivateDir::new()?;
    let files = secret_files(spec, &dir)?;
    let mut cmd = tokio::process::Command::new(&cli.path);
    cmd.args(args(&cli, spec, dockerfile, &files))
        .env("DOCKER_BUILDKIT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            Kind::Usage,
            format!("cannot run {}: {e}", cli.path.display()),
        )
    })?;
    // The context (the same files as the engine API path gets) goes in on stdin.
    let (feeder, stream_error) = feed_context(child.stdin.take(), context_files);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take();
    for pipe in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail = VecDeque::new();
    let run = async {
        while let Some(line) = rx.recv().await {
            if line.trim().is_empty() {
                continue;
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
            progress(BuildEvent::Output(line));
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(BUILD_LIMIT, run).await {
        Ok(s) => s?,
        Err(_) => {
            return Err(fail(
                Kind::Remote,
                format!(
                    "the image build took longer than {}s",
                    BUILD_LIMIT.as_secs()
                ),
            ))
        }
    };
    drop(dir);
    feeder.abort();
    if let Some(local) = stream_error.lock().ok().and_then(|slot| slot.clone()) {
        let dir = spec.context_dir.display();
        return Err(fail(
            Kind::Usage,
            format!("could not send the build context {dir}: {local}"),
        ));
    }
    if !status.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "image build failed ({}, {status}); last output:\n  {}",
                if cli.buildx {
                    "docker buildx build"
                } else {
                    "DOCKER_BUILDKIT=1 docker build"
                },
                tail.iter().cloned().collect::<Vec<_>>().join("\n  ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_by_file_and_never_by_value() {
        let spec = BuildSpec {
            context_dir: PathBuf::from("app"),
            tags: vec!["a:1".into(), "a:latest".into()],
            secrets: vec!["TOKEN".into()],
            secret_values: vec![("TOKEN".into(), SecretString::from("s3cr3t"))],
            ..Default::default()
        };
        let cli = Cli {
            path: "docker".into(),
            buildx: true,
        };
        let a = args(
            &cli,
            &spec,
            "Dockerfile",
            &[("TOKEN".into(), "/tmp/d/TOKEN".into())],
        );
        let joined = a.join(" ");
        assert!(joined.starts_with("buildx build --load"), "{joined}");
        assert!(
            joined.contains("--secret id=TOKEN,src=/tmp/d/TOKEN"),
            "{joined}"
        );
        assert!(joined.contains("-t a:1 -t a:latest"), "{joined}");
        assert!(!joined.contains("s3cr3t"));
        // The context goes on stdin as a tar (without .dhow/), never as the directory.
        assert!(joined.ends_with(" -"), "{joined}");
        assert!(joined.contains(" -f Dockerfile "), "{joined}");
    }

    #[test]
    fn private_dir_is_private_and_removed() {
        let d = PrivateDir::new().unwrap();
        let p = d.write("X", &SecretString::from("v")).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&d.0).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let path = d.0.clone();
        drop(d);
        assert!(!path.exists());
    }
}
