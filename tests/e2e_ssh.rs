//! End-to-end tests of SSH and the Docker API over SSH, against the sandbox's real sshd and
//! dockerd hosts, driving the real `dhow` binary (`server exec`, `details`).
//!
//! Needs `make sandbox`; reads `sandbox/.state/env` (override the state folder, or the env
//! file itself, with DHOW_SANDBOX_STATE). Run: `cargo test --features e2e --test e2e_ssh`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What `sandbox/.state/env` says.
struct Sandbox {
    hosts: Vec<String>,
    containers: Vec<String>,
    port: String,
    key: PathBuf,
    known_hosts: PathBuf,
    network: String,
    fresh: Option<String>,
}

fn sandbox() -> Sandbox {
    let state = std::env::var("DHOW_SANDBOX_STATE").unwrap_or_else(|_| "sandbox/.state".into());
    let state = PathBuf::from(state);
    let env_file = if state.is_dir() {
        state.join("env")
    } else {
        state
    };
    let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Start the sandbox (`make sandbox`) or set DHOW_SANDBOX_STATE",
            env_file.display()
        )
    });
    let vars: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing in {}", env_file.display()))
    };
    let split = |s: String| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    Sandbox {
        hosts: split(get("SANDBOX_HOSTS")),
        containers: split(get("SANDBOX_CONTAINERS")),
        port: get("SANDBOX_SSH_PORT"),
        key: get("SANDBOX_KEY").into(),
        known_hosts: get("SANDBOX_KNOWN_HOSTS").into(),
        network: get("SANDBOX_NETWORK"),
        fresh: vars.get("SANDBOX_FRESH").cloned().filter(|s| !s.is_empty()),
    }
}

/// A temporary app folder with `config/deploy.toml`; dhow runs inside it with HOME set to it
/// (so no personal keys or known_hosts are used) and without an ssh-agent.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// `ssh` holds `key = toml-value` lines for the `[ssh]` table.
    fn new(servers: &[&str], ssh: &[(&str, String)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
        let mut text = format!(
            "service = \"e2e-ssh\"\nimage = \"dhow-test/e2e-ssh\"\nservers = [{}]\n\n[ssh]\n",
            servers.join(", ")
        );
        for (k, v) in ssh {
            text.push_str(&format!("{k} = {v}\n"));
        }
        std::fs::write(dir.path().join("config/deploy.toml"), text).unwrap();
        Project { dir }
    }

    /// The sandbox's hosts with its key and known_hosts, plus `extra` settings.
    fn sandbox(sb: &Sandbox, servers: &[&str], extra: &[(&str, String)]) -> Project {
        let mut ssh = vec![
            ("user", q("root")),
            ("port", sb.port.clone()),
            ("keys", format!("[{}]", q(&sb.key.display().to_string()))),
            ("known_hosts", q(&sb.known_hosts.display().to_string())),
        ];
        for (key, value) in extra {
            ssh.retain(|(k, _)| k != key);
            ssh.push((key, value.clone()));
        }
        Project::new(servers, &ssh)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhow"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("SSH_AUTH_SOCK");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run dhow");
        Run::from(output)
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A fresh ed25519 key pair (private key path); `passphrase` empty for none.
fn keygen(dir: &Path, name: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "e2e", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    path
}

/// The host's ed25519 line in the sandbox's known_hosts (`[host]:port ssh-ed25519 KEY`).
fn sandbox_ed25519_line(sb: &Sandbox, host: &str) -> String {
    let name = format!("[{host}]:{} ssh-ed25519 ", sb.port);
    std::fs::read_to_string(&sb.known_hosts)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("no ed25519 key for {host} in the sandbox known_hosts"))
        .to_string()
}

/// `SHA256:...` of a known_hosts line, computed by OpenSSH's ssh-keygen (an independent oracle).
fn fingerprint_of(line: &str, dir: &Path) -> String {
    let file = dir.join("fp_input");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&file)
        .output()
        .expect("ssh-keygen -l");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

#[test]
fn exec_runs_on_every_host_in_parallel_with_prefixed_output() {
    let sb = sandbox();
    let hosts: Vec<&str> = sb.hosts.iter().map(String::as_str).collect();
    assert!(hosts.len() >= 2, "the sandbox needs two hosts");
    let project = Project::sandbox(&sb, &hosts, &[]);

    // Barrier: each host prints `started` and then waits for a flag that the test creates
    // only after it has seen `started` from every host. Run one host after the other and
    // the first would give up (after 30 s) before the second ever started.
    let flag = format!("/tmp/{}", unique("dhow-e2e-barrier"));
    let script = format!(
        "echo started; i=0; while [ ! -e {flag} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         if [ -e {flag} ]; then echo released; else echo gave-up; fi; echo to-stderr >&2"
    );
    let mut child = project
        .command(&["server", "exec", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    while lines
        .iter()
        .filter(|l: &&String| l.ends_with(": started"))
        .count()
        < hosts.len()
    {
        match reader.next() {
            Some(line) => lines.push(line.unwrap()),
            None => break,
        }
    }
    let release = project.run(&["server", "exec", &format!("touch {flag}")]);
    assert_eq!(release.code, 0, "{release:?}");
    lines.extend(reader.map(Result::unwrap));
    let output = child.wait_with_output().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: lines.join("\n") + "\n",
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let _ = project.run(&["server", "exec", &format!("rm -f {flag}")]);

    assert_eq!(run.code, 0, "{run:?}");
    for host in &hosts {
        assert!(
            run.stdout.contains(&format!("{host}: started\n")),
            "{run:?}"
        );
        assert!(
            run.stdout.contains(&format!("{host}: released\n")),
            "{run:?}"
        );
        assert!(
            run.stderr.contains(&format!("{host}: to-stderr")),
            "{run:?}"
        );
    }
    assert!(
        !run.stdout.contains("gave-up"),
        "hosts ran one after the other: {run:?}"
    );
    let first_release = lines
        .iter()
        .position(|l| l.ends_with(": released"))
        .unwrap();
    let last_start = lines
        .iter()
        .rposition(|l| l.ends_with(": started"))
        .unwrap();
    assert!(last_start < first_release, "{run:?}");

    // Each host answers with its own name, under its own prefix.
    let run = project.run(&["server", "exec", "echo I am $(hostname)"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("{}: I am vps1", hosts[0])),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("{}: I am vps2", hosts[1])),
        "{run:?}"
    );
}

#[test]
fn exec_fails_when_one_host_fails_and_names_it() {
    let sb = sandbox();
    let hosts: Vec<&str> = sb.hosts.iter().map(String::as_str).collect();
    let project = Project::sandbox(&sb, &hosts, &[]);
    let run = project.run(&["server", "exec", "echo ran; test $(hostname) = vps1"]);
    assert_eq!(run.code, 5, "exit code of a remote failure: {run:?}");
    assert!(
        run.stdout.contains(&format!("{}: ran", hosts[0])),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("{}: ran", hosts[1])),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("{}: exited with status 1", hosts[1])),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains(&format!("{}: exited", hosts[0])),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "failed on 1 of 2 hosts:\n  {}: exited with status 1",
            hosts[1]
        )),
        "{run:?}"
    );

    // The -h filter (with a wildcard) selects hosts.
    let run = project.run(&["-h", hosts[0], "server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{}: vps1\n", hosts[0]), "{run:?}");
    let run = project.run(&["-h", "127.0.0.*", "server", "exec", "hostname"]);
    assert_eq!(run.stdout.lines().count(), 2, "{run:?}");
    let run = project.run(&["-h", "10.9.9.9", "server", "exec", "hostname"]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// Removes the test's containers (by exact name) from the hosts at the end, pass or fail.
struct Cleanup<'a> {
    project: &'a Project,
    script: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.project.run(&["server", "exec", &self.script]);
    }
}

#[test]
fn details_shows_docker_version_and_dhow_containers_over_the_tunnel() {
    let sb = sandbox();
    let hosts: Vec<&str> = sb.hosts.iter().map(String::as_str).collect();
    let project = Project::sandbox(&sb, &hosts, &[]);
    let name = "dhow-e2e-ssh-$(hostname)";
    let _cleanup = Cleanup {
        project: &project,
        script: format!("docker rm -f {name} >/dev/null 2>&1; true"),
    };
    // A tiny image made on each host's own engine: /usr/bin/sleep and its libraries.
    let setup = format!(
        "set -e; docker rm -f {name} >/dev/null 2>&1 || true; \
         tar -ch -f - /usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*') 2>/dev/null \
           | docker import - dhow-e2e-sleep:1 >/dev/null; \
         docker run -d --name {name} --label dhow.service=e2e-ssh dhow-e2e-sleep:1 /usr/bin/sleep 600 >/dev/null; \
         echo ready"
    );
    let run = project.run(&["server", "exec", &setup]);
    assert_eq!(run.code, 0, "setup: {run:?}");

    let run = project.run(&["details"]);
    assert_eq!(run.code, 0, "{run:?}");
    for (host, vps) in hosts.iter().zip(["vps1", "vps2"]) {
        assert!(run.stdout.contains(&format!("{host}: Docker ")), "{run:?}");
        assert!(run.stdout.contains("(API 1."), "{run:?}");
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{host}: dhow-e2e-ssh-{vps} ")))
            .unwrap_or_else(|| panic!("container of {vps} not listed for {host}: {run:?}"));
        assert!(line.contains("dhow-e2e-sleep:1"), "{line}");
        assert!(line.contains("Up"), "{line}");
        // Containers of the other host are not attributed to this one.
        let other = if vps == "vps1" { "vps2" } else { "vps1" };
        assert!(
            !run.stdout
                .contains(&format!("{host}: dhow-e2e-ssh-{other}")),
            "{run:?}"
        );
    }

    // The same as JSON events.
    let run = project.run(&["--json", "details"]);
    assert_eq!(run.code, 0, "{run:?}");
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "details")
        .collect();
    assert_eq!(events.len(), hosts.len(), "{run:?}");
    for e in &events {
        assert!(e["api_version"].as_str().unwrap().starts_with("1."), "{e}");
        let names: Vec<&str> = e["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("dhow-e2e-ssh-vps")),
            "{e}"
        );
    }
}

#[test]
fn details_on_a_host_without_docker_says_setup_installs_it() {
    let sb = sandbox();
    let Some(fresh) = sb.fresh.clone() else {
        eprintln!("no fresh host in this sandbox; skipped");
        return;
    };
    let project = Project::sandbox(&sb, &[&fresh], &[]);
    let run = project.run(&["details"]);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("Docker is not installed"), "{run:?}");
    assert!(run.stderr.contains("dhow setup"), "{run:?}");
}

#[test]
fn jump_host_reaches_a_host_only_it_can_reach() {
    let sb = sandbox();
    // vps2's address on the sandbox network: reachable from vps1, not published here.
    let inner_ip = inner_ip(&sb, 1);

    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::copy(&sb.known_hosts, &known_hosts).unwrap();
    let bastion = format!("root@{}:{}", sb.hosts[0], sb.port);
    let target = format!("{inner_ip}:22");
    let project = Project::sandbox(
        &sb,
        &[&target],
        &[
            ("proxy", q(&bastion)),
            ("known_hosts", q(&known_hosts.display().to_string())),
            ("known_hosts_policy", q("accept-new")),
        ],
    );
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{inner_ip}: vps2\n"), "{run:?}");
    // The inner host's key was recorded under its own name (port 22: no brackets).
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        recorded
            .lines()
            .any(|l| l.starts_with(&format!("{inner_ip} "))),
        "{recorded}"
    );

    // Docker over the same tunnel through the jump host.
    let run = project.run(&["details"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("{inner_ip}: Docker ")),
        "{run:?}"
    );
}

#[test]
fn changed_host_key_is_refused_with_its_fingerprint() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let other = keygen(dir.path(), "other_host_key", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    let known_hosts = dir.path().join("known_hosts");
    let name = format!("[{host}]:{}", sb.port);
    std::fs::write(&known_hosts, format!("{name} {kind} {key}\n")).unwrap();
    let real_fp = fingerprint_of(&sandbox_ed25519_line(&sb, &host), dir.path());

    for policy in ["strict", "accept-new"] {
        let project = Project::sandbox(
            &sb,
            &[&host],
            &[
                ("known_hosts", q(&known_hosts.display().to_string())),
                ("known_hosts_policy", q(policy)),
            ],
        );
        let run = project.run(&["server", "exec", "echo should-not-run"]);
        assert_eq!(run.code, 4, "{policy}: {run:?}");
        assert!(!run.stdout.contains("should-not-run"), "{run:?}");
        assert!(run.stderr.contains("HOST KEY CHANGED"), "{run:?}");
        assert!(
            run.stderr.contains(&real_fp),
            "fingerprint {real_fp}: {run:?}"
        );
        assert!(
            run.stderr.contains(&format!(
                "ssh-keygen -R \"{name}\" -f {}",
                known_hosts.display()
            )),
            "{run:?}"
        );
    }
    // Nothing was written to the file.
    let after = std::fs::read_to_string(&known_hosts).unwrap();
    assert_eq!(after.lines().count(), 1, "{after}");
}

#[test]
fn unknown_host_refused_under_strict_then_accepted_and_recorded_under_accept_new() {
    let sb = sandbox();
    let host = sb.hosts[1].clone();
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("ssh").join("known_hosts");
    let config = |policy: &str| {
        Project::sandbox(
            &sb,
            &[&host],
            &[
                ("known_hosts", q(&known_hosts.display().to_string())),
                ("known_hosts_policy", q(policy)),
            ],
        )
    };
    let real_line = sandbox_ed25519_line(&sb, &host);
    let real_fp = fingerprint_of(&real_line, dir.path());

    let run = config("strict").run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("unknown"), "{run:?}");
    assert!(run.stderr.contains(&real_fp), "{run:?}");
    assert!(!known_hosts.exists(), "strict must not write known_hosts");

    let run = config("accept-new").run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{host}: vps2\n"), "{run:?}");
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    let key_b64 = real_line.split_whitespace().nth(2).unwrap();
    assert!(
        recorded
            .lines()
            .any(|l| l.starts_with(&format!("[{host}]:{} ", sb.port)) && l.contains(key_b64)),
        "recorded: {recorded}"
    );

    // Now known: strict accepts it.
    let run = config("strict").run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn wrong_or_encrypted_key_is_refused_with_what_was_tried() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let wrong = keygen(dir.path(), "wrong_key", "");
    let encrypted = keygen(dir.path(), "encrypted_key", "hunter2-e2e");
    let mut ssh = vec![
        ("user", q("root")),
        ("port", sb.port.clone()),
        ("known_hosts", q(&sb.known_hosts.display().to_string())),
        (
            "keys",
            format!(
                "[{}, {}]",
                q(&wrong.display().to_string()),
                q(&encrypted.display().to_string())
            ),
        ),
    ];
    let project = Project::new(&[&host], &ssh);
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("authentication as root refused"),
        "{run:?}"
    );
    assert!(run.stderr.contains(&wrong.display().to_string()), "{run:?}");
    assert!(run.stderr.contains("is encrypted"), "{run:?}");
    assert!(run.stderr.contains("ssh-add"), "{run:?}");
    assert!(!run.stderr.contains("hunter2-e2e"), "{run:?}");

    // Unreachable port: refused, with host:port.
    ssh[1] = ("port", "1".into());
    let project = Project::new(&[&host], &ssh);
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!("cannot reach {host}:1")),
        "{run:?}"
    );
    assert!(run.stderr.contains("refused"), "{run:?}");
}

/// A private ssh-agent for one test, stopped (by its PID) when dropped.
struct Agent {
    child: std::process::Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Agent { child, socket }
    }

    fn add(&self, key: &Path) {
        let status = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stderr(Stdio::null())
            .status()
            .expect("ssh-add");
        assert!(status.success(), "ssh-add {}", key.display());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keys_from_ssh_agent_are_used_when_no_key_file_is_configured() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path());
    agent.add(&keygen(dir.path(), "unrelated", ""));
    agent.add(&sb.key);
    let ssh = [
        ("user", q("root")),
        ("port", sb.port.clone()),
        ("known_hosts", q(&sb.known_hosts.display().to_string())),
    ];
    let project = Project::new(&[&host], &ssh);
    let output = project
        .command(&["server", "exec", "hostname"])
        .env("SSH_AUTH_SOCK", &agent.socket)
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{host}: vps1\n"), "{run:?}");

    // Without the agent (and no key files in HOME), the error says no keys were available.
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("no keys were available"), "{run:?}");
}

#[test]
fn rsa_keys_authenticate_with_sha2_signatures() {
    let sb = sandbox();
    let host = sb.hosts[1].clone();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_rsa");
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-N",
            "",
            "-C",
            "dhow-e2e-rsa",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public = public.trim();
    let admin = Project::sandbox(&sb, &[&host], &[]);
    let run = admin.run(&[
        "server",
        "exec",
        &format!("echo '{public}' >> /root/.ssh/authorized_keys"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let remove = format!(
        "grep -vF '{}' /root/.ssh/authorized_keys > /root/.ssh/ak.tmp; cat /root/.ssh/ak.tmp > /root/.ssh/authorized_keys; rm -f /root/.ssh/ak.tmp",
        public.split_whitespace().nth(1).unwrap()
    );
    let _cleanup = Cleanup {
        project: &admin,
        script: remove,
    };

    // OpenSSH 9 refuses SHA-1 `ssh-rsa` signatures: success means rsa-sha2-256/512 was used.
    let ssh = [
        ("user", q("root")),
        ("port", sb.port.clone()),
        ("known_hosts", q(&sb.known_hosts.display().to_string())),
        ("keys", format!("[{}]", q(&key.display().to_string()))),
    ];
    let run = Project::new(&[&host], &ssh).run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{host}: vps2\n"), "{run:?}");
}

#[test]
fn docker_permission_denied_says_to_add_the_user_to_the_docker_group() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let user = "dhow-e2e-nodocker";
    let admin = Project::sandbox(&sb, &[&host], &[]);
    let setup = format!(
        "id {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user}; \
         mkdir -p /home/{user}/.ssh && cp /root/.ssh/authorized_keys /home/{user}/.ssh/ && \
         chown -R {user} /home/{user}/.ssh && chmod 700 /home/{user}/.ssh"
    );
    let run = admin.run(&["server", "exec", &setup]);
    assert_eq!(run.code, 0, "{run:?}");
    let _cleanup = Cleanup {
        project: &admin,
        script: format!("userdel -r {user} >/dev/null 2>&1; true"),
    };
    let project = Project::sandbox(&sb, &[&host], &[("user", q(user))]);
    let run = project.run(&["details"]);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("permission denied"), "{run:?}");
    assert!(
        run.stderr.contains(&format!("usermod -aG docker {user}")),
        "{run:?}"
    );
}

#[test]
fn a_server_that_never_answers_times_out_with_host_and_step() {
    // A real socket that accepts and then says nothing (no SSH banner).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let conn = listener.accept().map(|(c, _)| c);
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(conn);
    });
    let ssh = [
        ("port", port.to_string()),
        ("connect_timeout", "1".into()),
        ("known_hosts_policy", q("off")),
    ];
    let run = Project::new(&["127.0.0.1"], &ssh).run(&["server", "exec", "true"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("SSH handshake timed out after 1s"),
        "{run:?}"
    );
    holder.join().unwrap();
}

/// The address of a sandbox host on the sandbox's own network (reachable only from the other
/// sandbox hosts).
fn inner_ip(sb: &Sandbox, index: usize) -> String {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            &format!(
                "{{{{(index .NetworkSettings.Networks {:?}).IPAddress}}}}",
                sb.network
            ),
            &sb.containers[index],
        ])
        .output()
        .expect("docker inspect");
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!ip.is_empty(), "no address for {}", sb.containers[index]);
    ip
}

#[test]
fn ssh_config_alias_reaches_a_host_through_a_proxyjump_alias() {
    let sb = sandbox();
    let inner = inner_ip(&sb, 1);
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::copy(&sb.known_hosts, &known_hosts).unwrap();
    // No user, port or key in the deploy config: all of it comes from ~/.ssh/config, where
    // the server's name is an alias and its jump host another.
    let project = Project::new(
        &["app-inner"],
        &[
            ("known_hosts", q(&known_hosts.display().to_string())),
            ("known_hosts_policy", q("accept-new")),
        ],
    );
    let key = sb.key.display().to_string();
    let ssh_dir = project.dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host app-inner\n  HostName {inner}\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  ProxyJump bastion\n  ServerAliveInterval 15\n\n\
             Host bastion\n  HostName {}\n  Port {}\n  User root\n  IdentityFile {key}\n",
            sb.hosts[0], sb.port
        ),
    )
    .unwrap();
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("vps2"), "{run:?}");

    // ssh.config = false: the alias means nothing, and dhow says it cannot reach it.
    let mut text = std::fs::read_to_string(project.dir.path().join("config/deploy.toml")).unwrap();
    text.push_str("config = false\n");
    std::fs::write(project.dir.path().join("config/deploy.toml"), text).unwrap();
    let run = project.run(&["server", "exec", "hostname"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("vps2"), "{run:?}");
}

#[test]
fn key_data_from_a_secret_reaches_a_host_with_no_key_file() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let project = Project::new(
        &[&host],
        &[
            ("user", q("root")),
            ("port", sb.port.clone()),
            ("known_hosts", q(&sb.known_hosts.display().to_string())),
            ("key_data", format!("[{}]", q("DEPLOY_SSH_KEY"))),
        ],
    );
    // The key as a CI runner has it: a multi-line secret, no file on disk.
    let pem = std::fs::read_to_string(&sb.key).unwrap();
    let secrets = project.dir.path().join(".dhow");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(
        secrets.join("secrets"),
        format!("DEPLOY_SSH_KEY=\"{}\"\n", pem.trim_end()),
    )
    .unwrap();
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("vps1"), "{run:?}");
    assert!(!run.stderr.contains("PRIVATE KEY"), "{run:?}");

    // Without the secret the key is missing, and the error names it.
    std::fs::write(secrets.join("secrets"), "OTHER=1\n").unwrap();
    let run = project.run(&["server", "exec", "hostname"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("DEPLOY_SSH_KEY"), "{run:?}");
}

#[test]
fn hashed_known_hosts_entries_are_matched_and_a_wrong_one_refused() {
    let sb = sandbox();
    let host = sb.hosts[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::copy(&sb.known_hosts, &known_hosts).unwrap();
    // ssh-keygen -H: every name hashed, as HashKnownHosts yes writes them.
    let hashed = Command::new("ssh-keygen")
        .args(["-H", "-f"])
        .arg(&known_hosts)
        .output()
        .expect("ssh-keygen -H");
    assert!(hashed.status.success(), "{hashed:?}");
    let text = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(text.lines().all(|l| l.starts_with("|1|")), "{text}");
    let project = Project::sandbox(
        &sb,
        &[&host],
        &[
            ("known_hosts", q(&known_hosts.display().to_string())),
            ("known_hosts_policy", q("strict")),
        ],
    );
    let run = project.run(&["server", "exec", "hostname"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("vps1"), "{run:?}");

    // The same hashed names with another key: the host's real key is refused.
    let other = keygen(dir.path(), "other_host_key", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    let wrong: String = text
        .lines()
        .map(|l| format!("{} {kind} {key}\n", l.split_whitespace().next().unwrap()))
        .collect();
    std::fs::write(&known_hosts, wrong).unwrap();
    let run = project.run(&["server", "exec", "echo should-not-run"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(!run.stdout.contains("should-not-run"), "{run:?}");
}
