//! The host commands resumable layer staging needs (`image::layers::stage::HostFiles`), run
//! over the host's SSH connection (`host::remote::Exec`): image/ knows nothing of SSH.

use crate::host::remote::Exec;
use crate::image::layers::stage::{HostFiles, Ran};
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::io::AsyncRead;

/// A host's shell, as layer staging uses it.
pub struct ShellFiles<'a>(pub &'a dyn Exec);

impl HostFiles for ShellFiles<'_> {
    fn run<'a>(
        &'a self,
        step: &'a str,
        cmd: &'a str,
        stdin: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Ran>> {
        Box::pin(async move {
            let out = self.0.exec_within(step, cmd, stdin, deadline).await?;
            Ok(Ran {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        })
    }

    fn run_piped<'a>(
        &'a self,
        cmd: &'a str,
        from: Box<dyn AsyncRead + Send + Unpin + 'a>,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, anyhow::Result<Ran>> {
        Box::pin(async move {
            let out = self.0.run_piped(cmd, from, sent).await?;
            Ok(Ran {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        })
    }
}
