//! Running a secrets manager's CLI: found on `$PATH` (else an error naming it and how to
//! install it), under a timeout, its stdout captured for the adapter to parse. A failure shows
//! the command's arguments (names, never values) and its stderr, never its stdout, which may
//! hold a secret. Session tokens travel in the environment, never in arguments.

use crate::error::{fail, Kind};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a non-interactive call may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a call that may prompt on the terminal (sign-in, unlock) may take.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(300);
/// At most this much of a failed command's stderr is quoted.
const STDERR_KEPT: usize = 2000;

/// A vendor CLI: its program name, what it is, how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub what: &'static str,
    pub install: &'static str,
}

/// How a call meets the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// No terminal: stdin closed, stdout and stderr captured.
    Quiet,
    /// May prompt: stdin and stderr are dhow's (the terminal), stdout captured (a session token).
    Prompt,
    /// May prompt and prints nothing dhow needs: its stdout goes to dhow's stderr, so the
    /// JSON on dhow's stdout stays clean.
    PromptAside,
}

/// One call of a tool.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: Tool,
    pub args: Vec<String>,
    /// Extra environment (e.g. a session token).
    pub env: Vec<(String, String)>,
    pub io: Io,
}

impl Call {
    pub fn new(tool: Tool, args: &[&str]) -> Call {
        Call {
            tool,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            io: Io::Quiet,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Call {
        self.args.push(a.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, more: impl IntoIterator<Item = S>) -> Call {
        self.args.extend(more.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, pairs: &[(String, String)]) -> Call {
        self.env.extend(pairs.iter().cloned());
        self
    }

    pub fn io(mut self, io: Io) -> Call {
        self.io = io;
        self
    }

    /// The command as shown in errors: program and arguments (names, never values).
    pub fn shown(&self) -> String {
        let mut s = self.tool.program.to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&crate::host::shell::quote(a));
        }
        s
    }

    /// Run it; `Ok` whatever its exit status (a "not signed in" answer is an answer).
    pub fn run(&self) -> Result<Ran> {
        let timeout = if self.io == Io::Quiet {
            TIMEOUT
        } else {
            PROMPT_TIMEOUT
        };
        self.run_within(timeout)
    }

    /// Run it and require success; the error quotes its stderr.
    pub fn output(&self) -> Result<String> {
        let ran = self.run()?;
        if ran.ok {
            return Ok(ran.stdout);
        }
        Err(self.failed(&ran))
    }

    /// The error for a call that ran and failed.
    pub fn failed(&self, ran: &Ran) -> anyhow::Error {
        let err = tail(ran.stderr.trim(), STDERR_KEPT);
        fail(
            Kind::Config,
            format!(
                "`{}` failed ({}){}",
                self.shown(),
                ran.status,
                if err.is_empty() {
                    String::new()
                } else {
                    format!(": {err}")
                }
            ),
        )
    }

    pub fn run_within(&self, timeout: Duration) -> Result<Ran> {
        let program = find(self.tool.program).ok_or_else(|| missing(&self.tool))?;
        let mut cmd = Command::new(&program);
        cmd.args(&self.args).envs(self.env.iter().cloned());
        match self.io {
            Io::Quiet => cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            Io::Prompt => cmd
                .stdin(Stdio::inherit())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            Io::PromptAside => cmd
                .stdin(Stdio::inherit())
                .stdout(stderr_as_stdio()?)
                .stderr(Stdio::inherit()),
        };
        let mut child = cmd.spawn().map_err(|e| {
            fail(
                Kind::Config,
                format!("cannot run {}: {e}", self.tool.program),
            )
        })?;
        // At most 4 MiB of each, read on threads so a full pipe never blocks the CLI.
        let stdout = crate::config::child::reader(child.stdout.take(), 4 << 20);
        let stderr = crate::config::child::reader(child.stderr.take(), 4 << 20);
        let text = |h: std::thread::JoinHandle<Vec<u8>>| {
            String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
        };
        let status = wait(&mut child, timeout)
            .map_err(|e| fail(Kind::Config, format!("`{}`: {e}", self.shown())))?;
        Ok(Ran {
            ok: status.success(),
            status: status.to_string(),
            stdout: text(stdout),
            stderr: text(stderr),
        })
    }
}

/// What a call left.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    /// Its exit status as text ("exit status: 1").
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// `program` on `$PATH`.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn missing(tool: &Tool) -> anyhow::Error {
    fail(
        Kind::Config,
        format!(
            "{} (`{}`) is not on PATH; install it: {}",
            tool.what, tool.program, tool.install
        ),
    )
}

/// dhow's own stderr, for a child's stdout.
fn stderr_as_stdio() -> Result<Stdio> {
    use std::os::fd::AsFd;
    let fd = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| fail(Kind::Internal, format!("cannot duplicate stderr: {e}")))?;
    Ok(Stdio::from(fd))
}

fn wait(
    child: &mut Child,
    timeout: Duration,
) -> std::result::Result<std::process::ExitStatus, String> {
    match crate::config::child::wait_within(child, timeout) {
        Ok(Some(status)) => Ok(status),
        Ok(None) => Err(format!(
            "no answer within {}s; stopped it",
            timeout.as_secs()
        )),
        Err(e) => Err(format!("cannot wait for it: {e}")),
    }
}

/// The last `max` bytes of `s` (on a char boundary), marked when cut.
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tool = Tool {
        program: "sh",
        what: "the shell",
        install: "it comes with the system",
    };

    #[test]
    fn stdout_is_kept_and_a_failure_shows_stderr_only() {
        let ok = Call::new(SH, &["-c", "printf out; printf err >&2"])
            .run()
            .unwrap();
        assert!(ok.ok);
        assert_eq!(ok.stdout, "out");
        let call = Call::new(
            SH,
            &["-c", "printf %s \"$V\"; printf 'bad token' >&2; exit 4"],
        )
        .env(&[("V".into(), "the-value".into())]);
        let err = call.output().unwrap_err().to_string();
        assert!(
            err.contains("bad token") && err.contains("exit status: 4"),
            "{err}"
        );
        assert!(!err.contains("the-value"), "{err}");
    }

    #[test]
    fn a_missing_tool_is_named_with_how_to_install_it() {
        let tool = Tool {
            program: "dhow-no-such-cli-standin",
            what: "The No Such CLI",
            install: "https://example.invalid/install",
        };
        let err = Call::new(tool, &[]).run().unwrap_err().to_string();
        assert!(
            err.contains("dhow-no-such-cli-standin") && err.contains("example.invalid"),
            "{err}"
        );
    }

    #[test]
    fn a_slow_tool_is_stopped() {
        let started = std::time::Instant::now();
        let err = Call::new(SH, &["-c", "exec sleep 5"])
            .run_within(Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no answer within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
