//! A command on the host wired to this terminal (`dhow app exec -i`, `accessory exec -i`):
//! with a terminal on stdin, a PTY on the host, the local terminal in raw mode (restored on
//! every way out) and window size changes passed on; without one (a pipe), plain stdin and
//! stdout streams. Stdin is read on a thread of its own so a blocked read never holds up exit.

use super::{errors, Session};
use russh::ChannelMsg;
use std::io::{IsTerminal, Read, Write};
use tokio::sync::mpsc;

/// Are this process's stdin and stdout a terminal (so the remote command gets a PTY)?
pub fn terminal_attached() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

impl Session {
    /// Run `cmd` attached to this process's stdin/stdout/stderr; returns its exit status.
    pub async fn exec_interactive(&self, cmd: &str) -> anyhow::Result<u32> {
        let host = self.host().to_string();
        let tty = terminal_attached();
        let channel = self.open_session_channel().await?;
        let (mut read, write) = channel.split();
        if tty {
            let (cols, rows) = window_size();
            let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
            write
                .request_pty(false, &term, cols, rows, 0, 0, &[])
                .await
                .map_err(|e| errors::channel(&host, "requesting a terminal", e))?;
        }
        write
            .exec(true, cmd)
            .await
            .map_err(|e| errors::channel(&host, "starting a command", e))?;
        let _raw = if tty { RawMode::enter() } else { None };
        let mut input = stdin_chunks();
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        let mut status = None;
        let mut stdin_open = true;
        loop {
            tokio::select! {
                msg = read.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&data);
                        let _ = out.flush();
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        let mut err = std::io::stderr().lock();
                        let _ = err.write_all(&data);
                        let _ = err.flush();
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        status.get_or_insert(128 + signal_number(&signal_name));
                    }
                    Some(_) => {}
                    None => break,
                },
                chunk = input.recv(), if stdin_open => match chunk {
                    Some(bytes) => {
                        write
                            .data_bytes(bytes)
                            .await
                            .map_err(|e| errors::channel(&host, "sending input", e))?;
                    }
                    None => {
                        stdin_open = false;
                        let _ = write.eof().await;
                    }
                },
                _ = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } }, if tty => {
                    let (cols, rows) = window_size();
                    let _ = write.window_change(cols, rows, 0, 0).await;
                }
            }
        }
        status.ok_or_else(|| {
            crate::error::fail(
                crate::error::Kind::Remote,
                format!("{host}: the connection closed before the command reported an exit status"),
            )
        })
    }
}

/// Stdin in chunks as they arrive, from a thread of its own; closed at end of input.
fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// The terminal's (columns, rows); 80x24 when it cannot be read.
fn window_size() -> (u32, u32) {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; the fd is stdout.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (u32::from(ws.ws_col), u32::from(ws.ws_row))
    } else {
        (80, 24)
    }
}

fn signal_number(name: &russh::Sig) -> u32 {
    match name {
        russh::Sig::HUP => 1,
        russh::Sig::INT => 2,
        russh::Sig::QUIT => 3,
        russh::Sig::KILL => 9,
        russh::Sig::TERM => 15,
        _ => 0,
    }
}

/// The local terminal in raw mode until dropped (keys go to the remote program as typed).
struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on stdin with termios structs we own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}
