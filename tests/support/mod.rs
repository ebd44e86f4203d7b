//! Shared helpers for end-to-end tests: the sandbox's facts, throwaway projects that run the
//! real `dhow` binary, a raw HTTP client and a keep-alive load generator.
#![allow(dead_code)]

pub mod example;
pub mod load;
pub mod prometheus;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The repository root (tests run with it as the working directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Facts about the running sandbox, from sandbox/.state/env (or $DHOW_SANDBOX_STATE/env).
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub vars: HashMap<String, String>,
}

impl Sandbox {
    pub fn load() -> Sandbox {
        let dir = std::env::var("DHOW_SANDBOX_STATE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join("sandbox/.state"));
        let text = std::fs::read_to_string(dir.join("env")).unwrap_or_else(|e| {
            panic!(
                "the sandbox is not running ({}: {e}); run `make sandbox` first (make test does)",
                dir.join("env").display()
            )
        });
        let vars = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        Sandbox { vars }
    }

    pub fn var(&self, k: &str) -> &str {
        self.vars
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("sandbox env lacks {k}"))
    }

    pub fn hosts(&self) -> Vec<String> {
        self.var("SANDBOX_HOSTS")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn ssh_port(&self) -> &str {
        self.var("SANDBOX_SSH_PORT")
    }

    /// `127.0.0.11:8080` style address of a host's proxy HTTP port.
    pub fn http_addr(&self, host: &str) -> String {
        format!("{host}:{}", self.var("SANDBOX_HTTP_PORT"))
    }

    /// Run a command on a sandbox host's shell through `docker exec` (test setup/inspection
    /// only; dhow itself always goes through SSH).
    pub fn docker_exec(&self, container: &str, cmd: &str) -> Output {
        Command::new("docker")
            .args(["exec", container, "sh", "-c", cmd])
            .output()
            .expect("docker exec")
    }

    /// Recreate the fresh host from its image: no Docker, nothing kept from an earlier
    /// `dhow setup` (its /var/lib/docker volume goes too), the sandbox's known_hosts refreshed.
    pub fn reset_fresh(&self) {
        let name = self.var("SANDBOX_FRESH_CONTAINER").to_string();
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &format!("{name}-docker")])
            .output();
        let up = Command::new("bash")
            .arg(repo().join("sandbox/sandbox.sh"))
            .arg("up")
            .output()
            .expect("sandbox.sh up");
        assert!(up.status.success(), "sandbox up: {}", text(&up));
    }

    /// Container name of sandbox host i (1-based).
    pub fn container(&self, i: usize) -> String {
        self.var("SANDBOX_CONTAINERS")
            .split_whitespace()
            .nth(i - 1)
            .expect("no such sandbox host")
            .to_string()
    }
}

/// A throwaway project directory holding a config, the demo app and hooks.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A project deploying the demo app as `service` with `config` as config/deploy.toml.
    pub fn new(config: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("dhow-e2e-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("app/bin")).unwrap();
        std::fs::create_dir_all(root.join("hooks")).unwrap();
        std::fs::write(root.join("config/deploy.toml"), config).unwrap();
        let demo = repo().join("demo");
        std::fs::copy(demo.join("Dockerfile"), root.join("app/Dockerfile")).unwrap();
        std::fs::copy(demo.join("bin/dhow-demo"), root.join("app/bin/dhow-demo"))
            .expect("demo/bin/dhow-demo missing: run `make demo-bin` (make test does)");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    /// A `dhow` command running in the project.
    pub fn cmd(&self, args: &[&str]) -> Command {
        dhow_in(self.path(), args)
    }

    /// Run `dhow ARGS` and return its output.
    pub fn dhow(&self, args: &[&str]) -> Output {
        timed(self.cmd(args), args)
    }

    /// Run `dhow ARGS` and panic with its output unless it succeeds.
    pub fn dhow_ok(&self, args: &[&str]) -> Output {
        let out = self.dhow(args);
        assert!(
            out.status.success(),
            "dhow {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// Text of stdout + stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One HTTP/1.1 GET with `Connection: close`; returns (status, body).
pub fn http_get(addr: &str, host: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The standard sandbox SSH settings as config TOML.
pub fn ssh_toml(sb: &Sandbox) -> String {
    format!(
        "[ssh]\nuser = \"root\"\nport = {}\nkeys = [\"{}\"]\nknown_hosts = \"{}\"\n",
        sb.ssh_port(),
        sb.var("SANDBOX_KEY"),
        sb.var("SANDBOX_KNOWN_HOSTS")
    )
}

/// A config (deploy.toml text) for the demo app as `service`, routed by `Host: <service>.test`.
pub fn config(sb: &Sandbox, service: &str, extra: &str) -> String {
    let hosts: Vec<String> = sb.hosts().iter().map(|h| format!("\"{h}\"")).collect();
    config_with_servers(
        sb,
        service,
        &format!("servers = [{}]", hosts.join(", ")),
        extra,
    )
}

/// The same with the `servers` part given (TOML placed before any table).
pub fn config_with_servers(sb: &Sandbox, service: &str, servers: &str, extra: &str) -> String {
    format!(
        r#"service = "{service}"
image = "dhow-test/{service}"
{servers}
deploy_timeout = "20s"
drain_timeout = "5s"
retain_containers = 3

[builder]
context = "app"

[proxy]
host = "{service}.test"
app_port = 3000

[proxy.healthcheck]
path = "/up"
interval = "200ms"

{ssh}
{extra}
"#,
        ssh = ssh_toml(sb),
    )
}

/// The body of `GET /` through `host`'s proxy for `<service>.test` (asserts a 200).
pub fn version_on(sb: &Sandbox, host: &str, service: &str) -> String {
    let (status, body) =
        http_get(&sb.http_addr(host), &format!("{service}.test"), "/").expect("GET");
    assert_eq!(status, 200, "GET / on {host} for {service}: {body}");
    body.trim().to_string()
}

/// Replace host i's proxy with one from the same image started as `dhow-proxy RUN_ARGS`, the
/// way an older dhow booted it (tests of the messages that tell how to upgrade it).
pub fn replace_proxy(sb: &Sandbox, i: usize, run_args: &str) {
    let image = text(&sb.docker_exec(
        &sb.container(i),
        "docker inspect -f '{{.Config.Image}}' dhow-proxy",
    ))
    .trim()
    .to_string();
    let out = sb.docker_exec(
        &sb.container(i),
        &format!(
            "docker rm -f dhow-proxy dhow-proxy-ports >/dev/null && docker run -d --name dhow-proxy --network dhow \
             --restart unless-stopped -p 80:80 -p 443:443 -v /var/run/dhow-proxy:/run/dhow-proxy \
             -v dhow-proxy-state:/var/lib/dhow-proxy {image} {run_args}"
        ),
    );
    assert!(out.status.success(), "replacing the proxy: {}", text(&out));
}

/// Resets the fresh host ([`Sandbox::reset_fresh`]) when dropped: at the end of a test that
/// touched it, also when the test fails.
pub struct ResetFreshAfter<'a>(pub &'a Sandbox);

impl Drop for ResetFreshAfter<'_> {
    fn drop(&mut self) {
        self.0.reset_fresh();
    }
}

/// The `dhow` binary under test with `args`, run in `dir`, without the caller's SSH agent;
/// first on PATH, so a hook that runs `dhow` runs this one.
pub fn dhow_in(dir: &Path, args: &[&str]) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_dhow"));
    let mut path = bin
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .into_os_string();
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    let mut c = Command::new(bin);
    c.args(args).current_dir(dir).env("PATH", path);
    c.env_remove("SSH_AUTH_SOCK");
    c
}

/// Run a `dhow` command, its time shown with the test's output (on failure, or with
/// --nocapture): where time goes.
pub fn timed(mut c: Command, args: &[&str]) -> Output {
    let started = std::time::Instant::now();
    let out = c.output().expect("run dhow");
    eprintln!(
        "[{:.1}s] dhow {}",
        started.elapsed().as_secs_f64(),
        args.join(" ")
    );
    out
}
