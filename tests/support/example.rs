//! The harness of the examples' end-to-end tests (tests/example_*.rs, `make test-examples`).
//!
//! An example is a dhow project of its own under examples/NAME, with destinations
//! (config/NAME.DEST.toml) written for the default sandbox (hosts 127.0.0.11, .12, the fresh host .20, SSH settings
//! from ../../sandbox/.state; `"dhow-sandbox-vpsN"` for host N's address on the sandbox's
//! network). [`Example::copy`] copies it into a temporary directory laid out
//! like the repository (`examples/NAME` beside `demo/` holding the demo's Dockerfile and
//! binary, so `context = "../../demo"` resolves), and rewrites only those addresses and paths
//! for the sandbox the test runs against (`DHOW_SANDBOX_STATE`). Every `dhow` command then runs
//! from inside the copy, as a user would run it from inside examples/NAME.
//!
//! To add an example: a folder under examples/ with config/, hooks/ and a README.md, a test
//! file tests/example_NAME.rs (a `[[test]]` entry with `required-features = ["e2e"]`) that
//! calls `Example::copy("NAME")` and ends with `summary(...)`, and a line in examples/README.md.

use super::{text, Sandbox};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A copy of examples/NAME adapted to the running sandbox.
pub struct Example {
    pub name: String,
    pub sb: Sandbox,
    root: tempfile::TempDir,
}

impl Example {
    pub fn copy(name: &str) -> Example {
        let sb = Sandbox::load();
        let root = tempfile::Builder::new()
            .prefix(&format!("dhow-example-{name}-"))
            .tempdir()
            .expect("tempdir");
        let repo = super::repo();
        copy_dir(
            &repo.join("examples").join(name),
            &root.path().join("examples").join(name),
        );
        let demo = root.path().join("demo/bin");
        std::fs::create_dir_all(&demo).unwrap();
        std::fs::copy(
            repo.join("demo/Dockerfile"),
            root.path().join("demo/Dockerfile"),
        )
        .unwrap();
        std::fs::copy(repo.join("demo/bin/dhow-demo"), demo.join("dhow-demo"))
            .expect("demo/bin/dhow-demo missing: run `make demo-bin` (make test-examples does)");
        let ex = Example {
            name: name.to_string(),
            sb,
            root,
        };
        ex.adapt_destinations();
        ex
    }

    /// The example's folder in the copy (where dhow runs).
    pub fn dir(&self) -> PathBuf {
        self.root.path().join("examples").join(&self.name)
    }

    /// Host i (1-based) of the sandbox.
    pub fn host(&self, i: usize) -> String {
        self.sb.hosts()[i - 1].clone()
    }

    /// Host i's address on the sandbox's network (how the other hosts reach it).
    pub fn net_ip(&self, i: usize) -> String {
        let out = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            ])
            .arg(self.sb.container(i))
            .output()
            .expect("docker inspect");
        let ip = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        assert!(
            !ip.is_empty(),
            "no network address for host {i}: {}",
            text(&out)
        );
        ip
    }

    /// Rewrite the destination files (config/NAME.DEST.toml) from the default sandbox to the
    /// one under test.
    fn adapt_destinations(&self) {
        let state = self
            .sb
            .var("SANDBOX_KEY")
            .trim_end_matches("/id_ed25519")
            .to_string();
        let mut subst: Vec<(String, String)> = self
            .sb
            .hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("\"127.0.0.{}\"", 11 + i), format!("\"{h}\"")))
            .collect();
        // `dhow-sandbox-vpsN` in a destination file: that host as the others reach it, by
        // its address on the sandbox's network.
        for i in 1..=self.sb.hosts().len() {
            subst.push((
                format!("\"dhow-sandbox-vps{i}\""),
                format!("\"{}\"", self.net_ip(i)),
            ));
        }
        if let Some(f) = self.sb.vars.get("SANDBOX_FRESH") {
            subst.push(("\"127.0.0.20\"".into(), format!("\"{f}\"")));
        }
        subst.push(("../../sandbox/.state/".into(), format!("{state}/")));
        for entry in std::fs::read_dir(self.dir().join("config")).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            if !file.ends_with(".toml") || file.matches('.').count() != 2 {
                continue; // not a destination file (NAME.DEST.toml)
            }
            let mut s = std::fs::read_to_string(&path).unwrap();
            for (from, to) in &subst {
                s = s.replace(from, to);
            }
            std::fs::write(&path, s).unwrap();
        }
    }

    /// A `dhow` command running inside the example.
    pub fn cmd(&self, args: &[&str]) -> Command {
        super::dhow_in(&self.dir(), args)
    }

    pub fn dhow(&self, args: &[&str]) -> Output {
        super::timed(self.cmd(args), args)
    }

    /// `dhow ARGS`, panicking with its output unless it succeeds.
    pub fn dhow_ok(&self, args: &[&str]) -> Output {
        let out = self.dhow(args);
        assert!(
            out.status.success(),
            "[{}] dhow {args:?} failed ({}):\n{}",
            self.name,
            out.status,
            text(&out)
        );
        out
    }

    /// An SSH local forward `127.0.0.1:local -> host's 127.0.0.1:remote` (the openssh client,
    /// as an operator would open one), ready when it returns; ended when dropped.
    pub fn ssh_forward(&self, host: &str, remote: u16) -> (Reaped, u16) {
        let local = free_port();
        let child = Command::new("ssh")
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "BatchMode=yes",
            ])
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", self.sb.var("SANDBOX_KNOWN_HOSTS")),
            ])
            .args(["-i", self.sb.var("SANDBOX_KEY"), "-p", self.sb.ssh_port()])
            .args(["-L", &format!("127.0.0.1:{local}:127.0.0.1:{remote}")])
            .arg(format!("root@{host}"))
            .stdin(Stdio::null())
            .spawn()
            .expect("ssh (openssh-client)");
        let child = Reaped(child);
        wait_port(local, "the SSH forward");
        (child, local)
    }
}

/// Copy a directory tree (files and folders; the examples hold no links).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A port free on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Wait (up to 30 s) until 127.0.0.1:port accepts connections.
pub fn wait_port(port: u16, what: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} on 127.0.0.1:{port} did not start within 30 s");
}

/// A child process killed and reaped when dropped (a test's Prometheus, load balancer, tunnel).
pub struct Reaped(pub Child);

impl Reaped {
    /// Start `cmd` with its output kept in `log` (shown by [`Reaped::log`]).
    pub fn spawn(cmd: &mut Command, log: &Path) -> Reaped {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Reaped(child)
    }

    /// The log file's text (for failure messages).
    pub fn log(log: &Path) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The one line an example's test prints at its end (what ran; failed requests under load):
/// on stdout, and appended to `$DHOW_EXAMPLES_SUMMARY` when set (`make test-examples` prints
/// that file once all examples ran, since the test harness captures stdout).
pub fn summary(name: &str, what: &str, failed_under_load: Option<u64>) {
    let load = failed_under_load
        .map(|n| format!("; requests failed under load: {n}"))
        .unwrap_or_default();
    let line = format!("example {name}: {what}{load}");
    println!("{line}");
    if let Ok(path) = std::env::var("DHOW_EXAMPLES_SUMMARY") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        writeln!(f, "{line}").unwrap();
    }
}
