//! The proxy's own lifecycle without losing a request, with the real binaries on loopback: a
//! port holder (`dhow-proxy hold`) keeps the listening socket; proxy A serves from it; proxy B
//! starts beside A standing by (`--takeover`), A hands over and B is promoted: A's idle
//! keep-alive connection gets its next request answered (with `Connection: close`), new
//! connections reach B, A exits by itself, B owns the control socket. Then B gets SIGTERM:
//! a request sent on its idle connection within the linger is answered, and a connection
//! opened while no proxy process runs waits in the holder's queue and is answered by the next.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Start `dhow-proxy ARGS` and wait for the line containing `ready` on its stderr.
fn spawn(args: &[&str], ready: &str) -> Reaped {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "it exited: {seen}");
        seen.push_str(&line);
        if line.contains(ready) {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});
    child
}

fn proxy(dir: &Path, control: &str) -> Reaped {
    let (c, p, t, s) = (
        dir.join(control),
        dir.join("ports.sock"),
        dir.join("control.sock"),
        dir.join("state.json"),
    );
    spawn(
        &[
            "--control",
            c.to_str().unwrap(),
            "run",
            "--listen-from",
            p.to_str().unwrap(),
            "--takeover",
            t.to_str().unwrap(),
            "--state",
            s.to_str().unwrap(),
            "--quiet",
            "--workers",
            "2",
        ],
        "listening on",
    )
}

/// One control request on a unix socket; the raw answer.
fn control(sock: &Path, method: &str, path: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A GET on an open keep-alive connection: (status, whether the answer closes it).
fn get_on(conn: &mut std::net::TcpStream) -> (u16, bool) {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: any.test\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "closed before an answer: {head}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (
        status_of(&head),
        head.to_ascii_lowercase().contains("connection: close"),
    )
}

fn exits_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_and_a_restart_lose_no_request() {
    let backend = Backend::start("one").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ports = dir.path().join("ports.sock");
    let holder = spawn(
        &[
            "hold",
            "--socket",
            ports.to_str().unwrap(),
            "--listen",
            &format!("http={addr}"),
            "--per-port",
            "2",
        ],
        "holding the listening sockets",
    );
    let mut a = proxy(dir.path(), "next.sock");
    let usual = dir.path().join("control.sock");
    let deployed = Command::new(bin())
        .arg("--control")
        .arg(&usual)
        .args([
            "deploy",
            "one",
            "--target",
            &backend.target(),
            "--health-interval",
            "50ms",
        ])
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );

    let task = tokio::task::spawn_blocking(move || {
        // An idle keep-alive connection on A.
        let mut idle = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(get_on(&mut idle), (200, false));

        // B stands by beside A (A answers on the usual socket), A hands over, B is promoted.
        let mut b = proxy(dir.path(), "next.sock");
        // Ready once its restored route passed a health check (the CLI waits for the same).
        let next = dir.path().join("next.sock");
        let start = Instant::now();
        while !control(&next, "GET", "/v1/services").contains("\"healthy\":true") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "B's route never got healthy"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(control(&usual, "POST", "/v1/handover").starts_with("HTTP/1.1 200"));
        assert!(
            control(&dir.path().join("next.sock"), "POST", "/v1/promote")
                .starts_with("HTTP/1.1 200")
        );
        assert!(
            !dir.path().join("next.sock").exists(),
            "B moved to the usual socket"
        );

        // A's idle connection gets its next request answered, as its last.
        assert_eq!(
            get_on(&mut idle),
            (200, true),
            "A answers, with Connection: close"
        );
        // New connections reach B; A exits by itself once its connections are done.
        for _ in 0..20 {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            assert_eq!(get_on(&mut c).0, 200);
        }
        let st = exits_within(&mut a, Duration::from_secs(10)).expect("A exits after the handover");
        assert!(st.success(), "{st:?}");
        assert!(
            control(&usual, "GET", "/v1/health").starts_with("HTTP/1.1 200"),
            "B owns the usual socket"
        );

        // SIGTERM: a request on B's idle connection within its linger is still answered.
        let mut idle = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(get_on(&mut idle), (200, false));
        unsafe { libc::kill(b.id() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(get_on(&mut idle), (200, true), "answered during the linger");
        exits_within(&mut b, Duration::from_secs(10)).expect("B exits after SIGTERM");

        // No proxy process now: a new connection waits in the holder's queue...
        let mut waiting = std::net::TcpStream::connect(addr).expect("the port stays open");
        waiting
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let sent = std::thread::spawn(move || get_on(&mut waiting));
        std::thread::sleep(Duration::from_millis(300));
        // ...and the next process (routes from the state file) answers it.
        let _c = proxy(dir.path(), "next.sock");
        assert_eq!(
            sent.join().unwrap().0,
            200,
            "the queued connection was answered"
        );
        // `_c` and `holder` are killed as they drop, here or while a failed check unwinds.
        drop(holder);
    });
    task.await.unwrap();
    assert!(
        backend.served() >= 24,
        "the backend served {}",
        backend.served()
    );
}
