//! The proxy keeps serving when its stderr is gone: a pipe whose reader closed (every log
//! write fails with EPIPE; tracing's own report of that failure used to panic the logging
//! thread, and the proxy with it), and a descriptor 2 that was closed before it started (the
//! next socket must not take it and receive log lines). With `--debug`, every connection logs.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

enum Stderr {
    /// A pipe whose reading end is closed at once.
    Broken,
    /// No descriptor 2 at all.
    Closed,
}

/// Start `dhow-proxy run --debug` on `port` with its stderr as `how`.
fn start(dir: &std::path::Path, port: u16, how: Stderr) -> Reaped {
    let mut cmd = Command::new(bin());
    cmd.arg("--control")
        .arg(dir.join("control.sock"))
        .args(["run", "--debug", "--quiet", "--workers", "2", "--state"])
        .arg(dir.join("state.json"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    match how {
        Stderr::Broken => {
            cmd.stderr(Stdio::piped());
        }
        Stderr::Closed => {
            cmd.stderr(Stdio::null());
            // SAFETY: close(2) is async-signal-safe; it runs in the child before exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::close(2);
                    Ok(())
                });
            }
        }
    }
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    Reaped(child)
}

/// Wait until the control socket answers, then route everything to `target`.
fn deploy(dir: &std::path::Path, target: &str) {
    let start = Instant::now();
    loop {
        let out = Command::new(bin())
            .arg("--control")
            .arg(dir.join("control.sock"))
            .args(["deploy", "any", "--target", target])
            .args(["--health-interval", "50ms"])
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the proxy never took the deploy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn serves_with(how: Stderr) {
    let backend = Backend::start("backend-says-hi").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut proxy = start(dir.path(), port, how);
    let (d, target) = (dir.path().to_path_buf(), backend.target());
    tokio::task::spawn_blocking(move || deploy(&d, &target))
        .await
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // Connections over both data-plane threads, each logging as it is accepted and answered.
    for i in 0..50 {
        let (status, body) = get(addr, "any.test", "/").await;
        assert_eq!(status, 200, "request {i}: {body}");
        assert_eq!(
            body, "backend-says-hi",
            "request {i}: only the backend's bytes"
        );
    }
    assert!(
        proxy.0.try_wait().unwrap().is_none(),
        "the proxy is still running"
    );
}

#[tokio::test]
async fn serves_with_a_broken_stderr_pipe() {
    serves_with(Stderr::Broken).await;
}

#[tokio::test]
async fn serves_with_stderr_closed() {
    serves_with(Stderr::Closed).await;
}
