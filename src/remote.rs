//! The one thing deploy steps need from a host's shell: run a command (optionally with data on
//! stdin, which is how files and secrets reach a host without touching a command line) and get
//! its exit status and output. `ssh::Session` implements it; `LocalShell` runs the same
//! commands on this machine for tests of the command builders.

use std::future::Future;

/// A finished command.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Runs shell commands somewhere.
pub trait Exec: Send + Sync {
    /// Where commands run, for messages (`root@1.2.3.4:22`).
    fn label(&self) -> String;

    fn exec(
        &self,
        cmd: &str,
        stdin: Option<Vec<u8>>,
    ) -> impl Future<Output = anyhow::Result<ExecOutput>> + Send;
}

/// Runs commands with `sh -c` on this machine in a given directory (tests only).
#[cfg(test)]
pub struct LocalShell {
    pub dir: std::path::PathBuf,
}

#[cfg(test)]
impl Exec for LocalShell {
    fn label(&self) -> String {
        "local".into()
    }

    async fn exec(&self, cmd: &str, stdin: Option<Vec<u8>>) -> anyhow::Result<ExecOutput> {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut input) = child.stdin.take() {
            if let Some(data) = stdin {
                input.write_all(&data).await?;
            }
        }
        let out = child.wait_with_output().await?;
        Ok(ExecOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
