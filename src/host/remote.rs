//! The one thing deploy steps need from a host's shell: run a command (optionally with data on
//! stdin, which is how files and secrets reach a host without touching a command line) and get
//! its exit status and output. `ssh::Session` implements it (below); `LocalShell` runs the same
//! commands on this machine for tests of the command builders.

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::host::ssh::ExecOutput;

/// A byte stream to a unix socket on the host (the proxy's control socket).
pub trait UnixStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> UnixStream for T {}

/// Runs shell commands on a host and opens streams to unix sockets there.
pub trait Exec: Send + Sync {
    /// Where commands run, for messages (`root@1.2.3.4:22`).
    fn label(&self) -> String;

    /// Run `cmd` with `sh -c` semantics; `stdin` is written then closed.
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
    ) -> BoxFuture<'a, anyhow::Result<ExecOutput>>;

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

    fn exec<'a>(
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

    fn exec<'a>(
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
