//! End-to-end: two first deploys racing on a fresh host can leave two Docker networks named
//! `dhow` (Docker allows it), after which every use of the name fails as "ambiguous". A deploy
//! must heal that. Its own test binary: while the duplicate exists, other deploys to the host
//! would see it, so nothing else runs beside it.

mod support;

use support::{config_with_servers, version_on, Project, Sandbox};

fn dhow_networks(sb: &Sandbox) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(2),
        "docker network ls --filter name=dhow --format '{{.Name}}'",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == "dhow")
        .map(str::to_string)
        .collect()
}

#[test]
fn a_deploy_heals_a_duplicate_dhow_network() {
    let sb = Sandbox::load();
    let svc = "nw";
    let host = sb.hosts()[1].clone();
    let p = Project::new(&config_with_servers(
        &sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        "",
    ));
    p.dhow_ok(&["deploy", "--version", "n1"]);
    // What a lost race leaves: a second, younger network of the same name (made through the
    // API without CheckDuplicate, as a racing client does).
    let made = sb.docker_exec(
        &sb.container(2),
        "curl -s --max-time 10 --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \
         -d '{\"Name\":\"dhow\",\"CheckDuplicate\":false}' http://docker/networks/create",
    );
    assert!(
        String::from_utf8_lossy(&made.stdout).contains("\"Id\""),
        "could not make the duplicate: {}",
        String::from_utf8_lossy(&made.stdout)
    );
    assert_eq!(dhow_networks(&sb).len(), 2, "the duplicate exists");

    p.dhow_ok(&["deploy", "--version", "n2"]);
    assert_eq!(version_on(&sb, &host, svc), "demo n2");
    assert_eq!(dhow_networks(&sb).len(), 1, "the duplicate is gone");
}
