//! End-to-end: `dhow setup` on the sandbox's fresh host (sshd, no Docker) installs Docker
//! from the distribution over SSH, starts it, boots the proxy and deploys the demo app; run
//! again it changes nothing and says so. A user without sudo gets an error that says what to
//! do. The fresh host is recreated before and after (other tests rely on it having no Docker),
//! so this binary runs beside nothing else.

mod support;

use std::process::Command;
use support::{config_with_servers, text, version_on, Project, Sandbox};

/// Recreate the fresh host from its image (no Docker) and refresh the sandbox's known_hosts.
fn reset_fresh(sb: &Sandbox) {
    let name = sb.var("SANDBOX_FRESH_CONTAINER").to_string();
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    let up = Command::new("bash")
        .arg(support::repo().join("sandbox/sandbox.sh"))
        .arg("up")
        .output()
        .expect("sandbox.sh up");
    assert!(up.status.success(), "sandbox up: {}", text(&up));
}

struct ResetAfter<'a>(&'a Sandbox);

impl Drop for ResetAfter<'_> {
    fn drop(&mut self) {
        reset_fresh(self.0);
    }
}

#[test]
fn setup_installs_docker_on_a_fresh_host_deploys_and_is_idempotent() {
    let sb = Sandbox::load();
    reset_fresh(&sb);
    let _after = ResetAfter(&sb);
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
}
