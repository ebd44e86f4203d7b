//! Hooks: executable scripts in `hooks_path` (default `hooks/`) run on the deployer's machine
//! at fixed points (pre-connect, pre-build, pre-deploy, post-deploy, ...). They get the
//! deploy's facts as `DHOW_*` environment variables; a failing hook aborts the command with its
//! name and output. `-H/--skip-hooks` skips them all.

use crate::error::{fail, Kind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one hook may run before it is stopped and reported as failed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs hooks from one directory with a fixed set of `DHOW_*` variables.
#[derive(Debug, Clone)]
pub struct Hooks {
    dir: PathBuf,
    skip: bool,
    env: BTreeMap<String, String>,
    out: Option<crate::output::Output>,
}

impl Hooks {
    pub fn new(dir: impl Into<PathBuf>, skip: bool) -> Self {
        Hooks {
            dir: dir.into(),
            skip,
            env: BTreeMap::new(),
            out: None,
        }
    }

    /// Show each hook's output through `out` as it finishes.
    pub fn with_output(mut self, out: crate::output::Output) -> Self {
        self.out = Some(out);
        self
    }

    /// Set a `DHOW_<NAME>` variable for every hook run from now on.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.env.insert(format!("DHOW_{name}"), value.into());
    }

    /// The path of a hook, if it exists.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        let p = self.dir.join(name);
        p.is_file().then_some(p)
    }

    /// Run hook `name` with extra variables; returns its output, or `None` when there is no
    /// such hook (or hooks are skipped).
    pub async fn run(
        &self,
        name: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Option<String>> {
        if self.skip {
            return Ok(None);
        }
        let Some(path) = self.path(name) else {
            return Ok(None);
        };
        check_executable(&path, name)?;
        let mut cmd = tokio::process::Command::new(&path);
        cmd.envs(&self.env)
            .envs(extra.iter().map(|(k, v)| (format!("DHOW_{k}"), v.clone())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            fail(
                Kind::Hook,
                format!("hook {name} ({}) could not start: {e}", path.display()),
            )
        })?;
        let (status, text) =
            match tokio::time::timeout(HOOK_TIMEOUT, self.stream(name, &mut child)).await {
                Ok(r) => r.map_err(|e| fail(Kind::Hook, format!("hook {name}: {e}")))?,
                Err(_) => {
                    return Err(fail(
                        Kind::Hook,
                        format!(
                            "hook {name} ran longer than {}s and was stopped",
                            HOOK_TIMEOUT.as_secs()
                        ),
                    ))
                }
            };
        if !status.success() {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
            return Err(fail(
                Kind::Hook,
                format!(
                    "hook {name} failed with {code}; nothing after it ran (skip hooks with -H)\n{}",
                    indent(text.trim_end())
                ),
            ));
        }
        Ok(Some(text))
    }
}

impl Hooks {
    /// Show the hook's stdout and stderr lines as they come (`[name] line`) and collect them;
    /// returns its exit status and the output.
    async fn stream(
        &self,
        name: &str,
        child: &mut tokio::process::Child,
    ) -> std::io::Result<(std::process::ExitStatus, String)> {
        use tokio::io::AsyncBufReadExt;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let pipes: [Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as _),
            child.stderr.take().map(|p| Box::new(p) as _),
        ];
        for pipe in pipes.into_iter().flatten() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut text = String::new();
        while let Some(line) = rx.recv().await {
            if let Some(out) = &self.out {
                out.info(format!("[{name}] {line}"));
            }
            text.push_str(&line);
            text.push('\n');
        }
        Ok((child.wait().await?, text))
    }
}

fn check_executable(path: &Path, name: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    if mode & 0o111 == 0 {
        return Err(fail(
            Kind::Hook,
            format!(
                "hook {name} ({}) is not executable: chmod +x {}",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_hook(dir: &Path, name: &str, body: &str) {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn hook_gets_env_and_missing_hook_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        write_hook(
            dir.path(),
            "pre-deploy",
            "echo \"$DHOW_SERVICE $DHOW_VERSION $DHOW_RUNTIME\"",
        );
        let mut hooks = Hooks::new(dir.path(), false);
        hooks.set("SERVICE", "demo");
        hooks.set("VERSION", "abc");
        let run = hooks
            .run("pre-deploy", &[("RUNTIME", "12".into())])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.trim(), "demo abc 12");
        assert!(hooks.run("post-deploy", &[]).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn failing_hook_names_itself_and_shows_output() {
        let dir = tempfile::tempdir().unwrap();
        write_hook(dir.path(), "pre-build", "echo 'tree is dirty' >&2; exit 3");
        let err = Hooks::new(dir.path(), false)
            .run("pre-build", &[])
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("hook pre-build failed with status 3"), "{msg}");
        assert!(msg.contains("tree is dirty"), "{msg}");
        assert_eq!(crate::error::kind_of(&err), Kind::Hook);
    }

    #[tokio::test]
    async fn skip_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write_hook(dir.path(), "pre-build", "exit 1");
        assert!(Hooks::new(dir.path(), true)
            .run("pre-build", &[])
            .await
            .unwrap()
            .is_none());
    }
}
