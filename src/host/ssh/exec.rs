//! Exec channels: run a shell command on the host, stream its stdout/stderr line by line
//! and return its exit status. Optional stdin data lets callers write files without putting
//! the content on a command line (secrets never go on a command line).

use super::errors;
use super::Session;
use russh::ChannelMsg;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// The collected result of a command.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub status: u32,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Splits a byte stream into lines, keeping an unfinished line for the next chunk.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        self.pending.extend_from_slice(data);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            emit(text.trim_end_matches('\r'));
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            emit(text.trim_end_matches('\r'));
        }
    }
}

impl Session {
    /// Open a session channel. sshd frees a finished session slightly after it closes it,
    /// so a refusal right at the MaxSessions limit is retried briefly.
    pub(super) async fn open_session_channel(
        &self,
    ) -> anyhow::Result<russh::Channel<russh::client::Msg>> {
        let mut attempt = 0;
        loop {
            self.count_channel();
            match self.handle().channel_open_session().await {
                Ok(channel) => return Ok(channel),
                Err(russh::Error::ChannelOpenFailure(_)) if attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(errors::channel(self.host(), "opening an exec channel", e)),
            }
        }
    }

    /// Run `cmd`, collecting stdout and stderr; returns them with the exit status.
    pub async fn exec(&self, cmd: &str) -> anyhow::Result<ExecOutput> {
        self.exec_with_stdin(cmd, &[]).await
    }

    /// Run `cmd` with `stdin` as its standard input (then EOF), collecting the output.
    pub async fn exec_with_stdin(&self, cmd: &str, stdin: &[u8]) -> anyhow::Result<ExecOutput> {
        self.collect(cmd, Some(stdin).filter(|d| !d.is_empty()))
            .await
    }

    /// Run `cmd` with `stdin` (then EOF), collecting its output lines and exit status.
    async fn collect(
        &self,
        cmd: &str,
        stdin: Option<impl tokio::io::AsyncRead + Unpin>,
    ) -> anyhow::Result<ExecOutput> {
        let mut out = ExecOutput::default();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        out.status = self
            .exec_from(cmd, stdin, |stream, line| {
                let buf = match stream {
                    OutputStream::Stdout => &mut stdout,
                    OutputStream::Stderr => &mut stderr,
                };
                buf.push_str(line);
                buf.push('\n');
            })
            .await?;
        out.stdout = stdout;
        out.stderr = stderr;
        Ok(out)
    }

    /// Run `cmd`, calling `on_line` for every output line as it arrives; returns the exit
    /// status. A command killed by a signal is an error that names the signal. No deadline
    /// here: dhow's own commands go through `Exec::exec*`, which puts one around this (see
    /// `host::remote`); `server exec` streams the user's command, which the user ends.
    pub async fn exec_streaming(
        &self,
        cmd: &str,
        stdin: Option<&[u8]>,
        on_line: impl FnMut(OutputStream, &str),
    ) -> anyhow::Result<u32> {
        self.exec_from(cmd, stdin.filter(|d| !d.is_empty()), on_line)
            .await
    }

    /// [`Session::exec_streaming`] with its standard input read from `stdin` (then EOF).
    async fn exec_from(
        &self,
        cmd: &str,
        stdin: Option<impl tokio::io::AsyncRead + Unpin>,
        mut on_line: impl FnMut(OutputStream, &str),
    ) -> anyhow::Result<u32> {
        let host = self.host();
        let _slot = self.exec_slot().await?;
        let mut channel = self.open_session_channel().await?;
        channel
            .exec(true, cmd)
            .await
            .map_err(|e| errors::channel(host, "starting a command", e))?;
        if let Some(data) = stdin {
            channel
                .data(data)
                .await
                .map_err(|e| errors::channel(host, "sending stdin", e))?;
        }
        channel
            .eof()
            .await
            .map_err(|e| errors::channel(host, "closing stdin", e))?;

        let (mut out, mut err) = (Lines::default(), Lines::default());
        let mut status = None;
        let mut signal = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.push(&data, |l| on_line(OutputStream::Stdout, l)),
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    err.push(&data, |l| on_line(OutputStream::Stderr, l))
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    signal = Some(format!("{signal_name:?}"))
                }
                ChannelMsg::Failure => {
                    return Err(errors::channel(
                        host,
                        "starting a command",
                        "the server refused the exec request",
                    ))
                }
                _ => {}
            }
        }
        out.finish(|l| on_line(OutputStream::Stdout, l));
        err.finish(|l| on_line(OutputStream::Stderr, l));
        match (status, signal) {
            (Some(code), _) => Ok(code),
            (None, Some(sig)) => Err(crate::error::fail(
                crate::error::Kind::Remote,
                format!("{host}: the command was killed by signal {sig}"),
            )),
            (None, None) => Err(crate::error::fail(
                crate::error::Kind::Remote,
                format!("{host}: the connection closed before the command reported an exit status"),
            )),
        }
    }
}

impl Session {
    /// Run `cmd` with its standard input streamed from `from` (then EOF), calling `sent` with
    /// the bytes sent so far; collects the output. No deadline of its own: the caller, which
    /// knows how much is to be sent, watches the progress (`sent`) instead.
    pub async fn exec_piped(
        &self,
        cmd: &str,
        from: impl tokio::io::AsyncRead + Unpin,
        sent: &(dyn Fn(u64) + Send + Sync),
    ) -> anyhow::Result<ExecOutput> {
        let counted = Counted {
            inner: from,
            total: 0,
            sent,
        };
        self.collect(cmd, Some(counted)).await
    }
}

/// A reader that reports the bytes read through it so far.
struct Counted<'a, R> {
    inner: R,
    total: u64,
    sent: &'a (dyn Fn(u64) + Send + Sync),
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<'_, R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.total += n;
            (self.sent)(self.total);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn splits_lines_across_chunks() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        lines.push(b"a\r\nb", |l| seen.push(l.to_string()));
        lines.push(b"c\n\nd", |l| seen.push(l.to_string()));
        lines.finish(|l| seen.push(l.to_string()));
        assert_eq!(seen, ["a", "bc", "", "d"]);
    }
}
