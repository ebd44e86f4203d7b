//! End-to-end: `dhow setup` on the sandbox's fresh host (sshd, no Docker) installs Docker
//! from the distribution over SSH, starts it, boots the proxy and deploys the demo app; run
//! again it changes nothing and says so. A user without sudo gets an error that says what to
//! do. The fresh host is recreated before and after (other tests rely on it having no Docker),
//! so this binary runs beside nothing else.

mod support;

use std::process::Command;
use support::{config_with_servers, text, version_on, Project, Sandbox};

#[test]
fn setup_installs_docker_on_a_fresh_host_deploys_and_is_idempotent() {
    let sb = Sandbox::load();
    sb.reset_fresh();
    let _after = support::ResetFreshAfter(&sb);
    let fresh = sb.var("SANDBOX_FRESH").to_string();
    let container = sb.var("SANDBOX_FRESH_CONTAINER").to_string();
    let svc = "st";
    let p = Project::new(&config_with_servers(
        &sb,
        svc,
        &format!("servers = [\"{fresh}\"]"),
        "",
    ));

    // Plain deploy cannot work there yet, and says what to do.
    let out = p.dhow(&["deploy", "--version", "s1"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("dhow setup"), "{}", text(&out));

    // A user without sudo: a clear refusal.
    let nosudo = "dhow-nosudo";
    let made = sb.docker_exec(
        &container,
        &format!(
            "id {nosudo} >/dev/null 2>&1 || useradd -m -s /bin/sh {nosudo}; \
             mkdir -p /home/{nosudo}/.ssh && cp /root/.ssh/authorized_keys /home/{nosudo}/.ssh/ && \
             chown -R {nosudo} /home/{nosudo}/.ssh"
        ),
    );
    assert!(made.status.success(), "{}", text(&made));
    let q = Project::new(
        &config_with_servers(&sb, svc, &format!("servers = [\"{fresh}\"]"), "")
            .replace("user = \"root\"", &format!("user = \"{nosudo}\"")),
    );
    let out = q.dhow(&["setup", "--version", "s1"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("passwordless sudo") && text(&out).contains(&fresh),
        "{}",
        text(&out)
    );

    // Setup as root: Docker installed and started, the app deployed.
    let out = p.dhow_ok(&["setup", "--version", "s1"]);
    let t = text(&out);
    assert!(t.contains("installed") && t.contains("Debian"), "{t}");
    assert_eq!(version_on(&sb, &fresh, svc), "demo s1");
    let docker = sb.docker_exec(&container, "docker version --format '{{.Server.Version}}'");
    assert!(docker.status.success(), "{}", text(&docker));

    // Again: nothing changes, and it says so; the app keeps serving.
    let out = p.dhow_ok(&["setup", "--version", "s1"]);
    let t = text(&out);
    assert!(
        t.contains("nothing to change") && t.contains("nothing changed"),
        "a second setup says nothing changed: {t}"
    );
    assert!(!t.contains("installed,"), "{t}");
    assert_eq!(version_on(&sb, &fresh, svc), "demo s1");

    // Hardening and the firewall. Before: a second sshd on 2223 and a container published on
    // 9998 answer on the host's address.
    let ip = host_ip(&container);
    let probe = sb.docker_exec(
        &container,
        "/usr/sbin/sshd -p 2223 && docker rm -f fw-probe >/dev/null 2>&1; \
         docker run -d --name fw-probe -p 9998:3000 dhow-test/st:s1",
    );
    assert!(probe.status.success(), "{}", text(&probe));
    wait_open(&format!("{ip}:2223"));
    wait_open(&format!("{ip}:9998"));
    let hardened = Project::new(&config_with_servers(
        &sb,
        svc,
        &format!("servers = [\"{fresh}\"]"),
        "[setup]\nharden = true\nfirewall = true\n",
    ));
    let out = hardened.dhow_ok(&["setup", "--version", "s1"]);
    let t = text(&out);
    for step in [
        "SSH password logins turned off",
        "unattended security upgrades",
        "fail2ban",
        "firewall on",
    ] {
        assert!(t.contains(step), "missing {step:?}: {t}");
    }
    // The session survived and new ones get in (setup confirmed the rules over a new one).
    assert!(sb
        .docker_exec(&container, "test -e /run/dhow-firewall-ok")
        .status
        .success());
    hardened.dhow_ok(&["server", "exec", "true"]);
    // 80 (through the proxy) still serves; the other ports are closed now.
    assert_eq!(version_on(&sb, &fresh, svc), "demo s1");
    assert!(!is_open(&format!("{ip}:2223")), "port 2223 still open");
    assert!(
        !is_open(&format!("{ip}:9998")),
        "published port 9998 still open"
    );
    let sshd = sb.docker_exec(&container, "sshd -T | grep -i '^passwordauthentication'");
    assert_eq!(text(&sshd).trim(), "passwordauthentication no");
    // Once more: nothing to change.
    let out = hardened.dhow_ok(&["setup", "--version", "s1"]);
    let t = text(&out);
    assert!(
        t.contains("firewall already on") && t.contains("nothing changed"),
        "{t}"
    );

    // docker_install = "script": the script at docker_script_url installs Docker. Docker's
    // own (get.docker.com) needs the internet; a stand-in served on this machine's loopback
    // (reached over SSH) proves the mechanism: download, run, Docker up, app deployed.
    sb.reset_fresh();
    let (url, served) = serve_once(
        "#!/bin/sh\nset -e\napt-get update -q >/dev/null\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >/dev/null\n\
         touch /var/tmp/dhow-test-install-script-ran\n",
    );
    let scripted = Project::new(&config_with_servers(
        &sb,
        svc,
        &format!("servers = [\"{fresh}\"]"),
        &format!("[setup]\ndocker_install = \"script\"\ndocker_script_url = \"{url}\"\n"),
    ));
    let out = scripted.dhow_ok(&["setup", "--version", "s2"]);
    assert!(text(&out).contains("installed"), "{}", text(&out));
    assert!(served.join().unwrap(), "the script was never fetched");
    assert!(sb
        .docker_exec(&container, "test -e /var/tmp/dhow-test-install-script-ran")
        .status
        .success());
    assert_eq!(version_on(&sb, &fresh, svc), "demo s2");
}

/// Serve `body` once over HTTP on this machine's loopback; returns its URL and a handle that
/// says whether it was fetched.
fn serve_once(body: &str) -> (String, std::thread::JoinHandle<bool>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/get-docker.sh",
        listener.local_addr().unwrap().port()
    );
    let body = body.to_string();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let Ok((mut s, _)) = listener.accept() else {
            return false;
        };
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        true
    });
    (url, handle)
}

/// The host container's address on the sandbox network (the project's own container).
fn host_ip(container: &str) -> String {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        ])
        .output()
        .expect("docker inspect");
    text(&out)
        .split_whitespace()
        .next()
        .expect("no address")
        .to_string()
}

fn is_open(addr: &str) -> bool {
    let a: std::net::SocketAddr = addr.parse().expect("address");
    std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok()
}

fn wait_open(addr: &str) {
    for _ in 0..50 {
        if is_open(addr) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{addr} never opened");
}
