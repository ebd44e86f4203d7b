//! The one thing deploy steps need from a host's shell: run a command (optionally with data on
//! stdin, which is how files and secrets reach a host without touching a command line) and get
//! its exit status and output. `ssh::Session` implements it (below); `LocalShell` runs the same
//! commands on this machine for tests of the command builders.
//!
//! Every command runs under a deadline (`exec` / `exec_step`: [`DEFAULT_DEADLINE`]; steps
//! that need longer, such as apt installs in `dhow setup`, pass their own to `exec_within`),
//! so a hung command fails with the host and the step named instead of hanging the CLI.
//! Interactive sessions (`exec_interactive`, `app exec -i`) have no deadline: a person is at
//! the other end and ends them.

use futures::future::BoxFuture;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::host::ssh::ExecOutput;

/// A byte stream to a unix socket on the host (the proxy's control socket).
pub trait UnixStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> UnixStream for T {}

/// How long a remote command may take unless its step says otherwise: generous, since a
/// slow host under load still answers file writes and probes well within it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

/// The error of a command that did not finish in time: names the host and the step.
pub fn deadline_error(label: &str, step: &str, deadline: Duration) -> anyhow::Error {
    let secs = deadline.as_secs_f64();
    let within = if secs >= 1.0 {
        format!("{}s", deadline.as_secs())
    } else {
        format!("{}ms", deadline.as_millis())
    };
    crate::error::fail(
        crate::error::Kind::Remote,
        format!("{label}: {step}: no answer within {within}"),
    )
}

/// A short name for a command run without a named step: its first line, cut to 40 chars.
fn step_of(cmd: &str) -> String {
    let first = cmd.lines().next().unwrap_or_default().trim();
    let mut step: String = first.chars().take(40).collect();
    if step.len() < first.len() || cmd.trim().lines().count() > 1 {
        step.push_str("...");
    }
    format!("`{step}`")
}

/// Runs shell commands on a host and opens streams to unix sockets there.
pub trait Exec: Send + Sync {
    /// Where commands run, for messages (`root@1.2.3.4:22`).
    fn label(&self) -> String;

    /// Run `cmd` with `sh -c` semantics; `stdin` is written then closed. No deadline: this is
    /// what implementations provide; callers use `exec`, `exec_step` or `exec_within`.
    fn run<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>>;

    /// Run `cmd` under [`DEFAULT_DEADLINE`]; an error names the command's first words.
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        Box::pin(async move {
            let step = step_of(cmd);
            self.exec_within(&step, cmd, stdin, DEFAULT_DEADLINE).await
        })
    }

    /// Run `cmd` as `step` (e.g. "write env file") under [`DEFAULT_DEADLINE`].
    fn exec_step<'a>(
        &'a self,
        step: &'a str,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        self.exec_within(step, cmd, stdin, DEFAULT_DEADLINE)
    }

    /// Run `cmd` as `step`, failing with the host and step named when it takes longer than
    /// `deadline` (the command's channel is dropped, which closes it on the host).
    fn exec_within<'a>(
        &'a self,
        step: &'a str,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            tracing::trace!(host = %self.label(), step, cmd, "remote command");
            let result = match tokio::time::timeout(deadline, self.run(cmd, stdin)).await {
                Ok(result) => result,
                Err(_) => Err(deadline_error(&self.label(), step, deadline)),
            };
            let ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(out) => {
                    tracing::debug!(host = %self.label(), step, status = out.status, ms, "ran {step} ({ms} ms)")
                }
                Err(e) => {
                    tracing::debug!(host = %self.label(), step, ms, error = %e, "{step} failed ({ms} ms)")
                }
            }
            result
        })
    }

    /// Run `cmd` with its standard input streamed from `from`, calling `sent` with the bytes
    /// sent so far (for large uploads: image layers). No deadline: the caller watches `sent`.
    fn run_piped<'a>(
        &'a self,
        cmd: &'a str,
        from: Box<dyn AsyncRead + Send + Unpin + 'a>,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        let _ = (cmd, from, sent);
        Box::pin(async {
            Err(crate::error::fail(
                crate::error::Kind::Internal,
                "streaming a file to a host needs an SSH connection",
            ))
        })
    }

    /// Open a stream to the unix socket at `path` on the host.
    fn open_unix<'a>(&'a self, path: &'a str)
        -> BoxFuture<'a, anyhow::Result<Box<dyn UnixStream>>>;

    /// Make the host's loopback `port` lead to `local` on this machine (like `ssh -R`).
    fn forward_remote_port<'a>(
        &'a self,
        port: u16,
        local: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Run `cmd` attached to this terminal (a PTY when there is one); returns its exit status.
    /// No deadline: a person is attached and ends the session.
    fn exec_interactive<'a>(&'a self, cmd: &'a str) -> BoxFuture<'a, anyhow::Result<u32>> {
        let _ = cmd;
        Box::pin(async {
            Err(crate::error::fail(
                crate::error::Kind::Internal,
                "interactive commands need an SSH connection",
            ))
        })
    }

    /// Channels (each at least one network round trip) opened so far, when known.
    fn channels_opened(&self) -> Option<usize> {
        None
    }
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

    fn run<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        Box::pin(self.exec_local(cmd, stdin))
    }

    fn open_unix<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Box<dyn UnixStream>>> {
        Box::pin(async move {
            let s = tokio::net::UnixStream::connect(path).await?;
            Ok(Box::new(s) as Box<dyn UnixStream>)
        })
    }

    fn forward_remote_port<'a>(
        &'a self,
        _port: u16,
        _local: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        // Commands run on this machine already: nothing to forward.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
impl LocalShell {
    async fn exec_local(&self, cmd: &str, stdin: Option<Vec<u8>>) -> anyhow::Result<ExecOutput> {
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
            status: out.status.code().map_or(255, |c| c as u32),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

impl Exec for crate::host::ssh::Session {
    fn label(&self) -> String {
        self.host().to_string()
    }

    fn channels_opened(&self) -> Option<usize> {
        Some(crate::host::ssh::Session::channels_opened(self))
    }

    fn exec_interactive<'a>(&'a self, cmd: &'a str) -> BoxFuture<'a, anyhow::Result<u32>> {
        Box::pin(crate::host::ssh::Session::exec_interactive(self, cmd))
    }

    fn run<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        Box::pin(async move {
            match stdin {
                Some(data) => self.exec_with_stdin(cmd, &data).await,
                None => self.exec(cmd).await,
            }
        })
    }

    fn run_piped<'a>(
        &'a self,
        cmd: &'a str,
        from: Box<dyn AsyncRead + Send + Unpin + 'a>,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
        Box::pin(self.exec_piped(cmd, from, sent))
    }

    fn open_unix<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Box<dyn UnixStream>>> {
        Box::pin(async move {
            let s = crate::host::ssh::Session::open_unix(self, path).await?;
            Ok(Box::new(s) as Box<dyn UnixStream>)
        })
    }

    fn forward_remote_port<'a>(
        &'a self,
        port: u16,
        local: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(crate::host::ssh::Session::forward_remote_port(
            self, port, local,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose commands never finish.
    struct Hung;

    impl Exec for Hung {
        fn label(&self) -> String {
            "127.0.0.11".into()
        }
        fn run<'a>(
            &'a self,
            _cmd: &'a str,
            _stdin: Option<Vec<u8>>,
        ) -> BoxFuture<'a, anyhow::Result<ExecOutput>> {
            Box::pin(futures::future::pending())
        }
        fn open_unix<'a>(
            &'a self,
            _path: &'a str,
        ) -> BoxFuture<'a, anyhow::Result<Box<dyn UnixStream>>> {
            Box::pin(futures::future::pending())
        }
        fn forward_remote_port<'a>(
            &'a self,
            _port: u16,
            _local: &'a str,
        ) -> BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test]
    async fn a_hung_command_fails_with_host_and_step_named() {
        let started = std::time::Instant::now();
        let err = Hung
            .exec_within("write env file", "cat > x", None, Duration::from_millis(50))
            .await
            .expect_err("a hung command must fail");
        assert_eq!(
            err.to_string(),
            "127.0.0.11: write env file: no answer within 50ms"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn unnamed_steps_are_the_commands_first_words() {
        assert_eq!(step_of("cat > /srv/x.env\nmore"), "`cat > /srv/x.env...`");
        assert_eq!(step_of("id -un"), "`id -un`");
    }

    #[test]
    fn deadline_error_in_seconds() {
        let e = deadline_error("h", "s", Duration::from_secs(300));
        assert_eq!(e.to_string(), "h: s: no answer within 300s");
    }
}
