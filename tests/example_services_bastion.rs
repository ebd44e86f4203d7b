//! Example 4 end to end (examples/services-bastion): two services (the bot/API on every path
//! of the site, static files on `/static`) sharing one proxy per host, two destinations
//! (`staging`, `production`) on different hosts with different secrets, every app host
//! reached only through the bastion (sandbox host 1: the app hosts' sshd is closed by iptables
//! to everyone else for the test, shown by a direct `ssh` failing), forwarded headers kept
//! only from the load balancer's address, and the API redeployed under load (0 failed).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::example::{summary, Example};
use support::load::Load;
use support::{http_get, text};

const DESTS: [(&str, usize, &str); 2] = [
    ("staging", 2, "staging.tux.test"),
    ("production", 3, "tux.test"),
];

/// SSH from this machine straight to `ip:port`, as the deployer would without the bastion.
fn ssh_direct(ex: &Example, ip: &str, port: &str) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-i",
            ex.sb.var("SANDBOX_KEY"),
            "-p",
            port,
        ])
        .arg(format!("root@{ip}"))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .expect("ssh (openssh-client)")
}

/// Close (or, `on == false`, reopen) host i's sshd to everyone but the bastion.
fn bastion_only(ex: &Example, i: usize, bastion: &str, on: bool) {
    let op = if on { "-I" } else { "-D" };
    let rule = format!(
        "iptables {op} INPUT -p tcp --dport 22 ! -s {bastion} -j REJECT --reject-with tcp-reset"
    );
    let undo = if on { "" } else { " 2>/dev/null || true" };
    let out = ex
        .sb
        .docker_exec(&ex.sb.container(i), &format!("{rule}{undo}"));
    assert!(out.status.success(), "iptables on host {i}: {}", text(&out));
}

/// GET /forwarded with an X-Forwarded-For of our own; the body is what the app was passed.
fn forwarded_from_here(addr: &str, host: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /forwarded HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default()
}

/// Point the destination files at the hosts' network addresses, a known_hosts that names
/// them, and the load balancer's address as the only trusted proxy.
fn adapt(ex: &Example, lb: &str) {
    let known = std::fs::read_to_string(ex.sb.var("SANDBOX_KNOWN_HOSTS")).unwrap();
    let mut names = known.clone();
    for (_, i, _) in DESTS {
        let from = format!("[{}]:{} ", ex.host(i), ex.sb.ssh_port());
        for line in known.lines().filter(|l| l.starts_with(&from)) {
            names.push_str(&line.replacen(&from, &format!("{} ", ex.net_ip(i)), 1));
            names.push('\n');
        }
    }
    let kh = ex.dir().join(".dhow/known_hosts.local");
    // The harness rewrites quoted addresses only; the jump host is inside `user@host:port`.
    let jump = format!("root@{}:{}", ex.host(1), ex.sb.ssh_port());
    std::fs::write(&kh, names).unwrap();
    for (dest, i, _) in DESTS {
        for f in ["deploy", "static"] {
            let path = ex.dir().join(format!("config/{f}.{dest}.toml"));
            let s = std::fs::read_to_string(&path).unwrap();
            let s = s
                .replace(
                    &format!("servers = [\"{}\"]", ex.host(i)),
                    &format!("servers = [\"{}\"]", ex.net_ip(i)),
                )
                .replace(ex.sb.var("SANDBOX_KNOWN_HOSTS"), kh.to_str().unwrap())
                .replace("root@127.0.0.11:2222", &jump)
                .replace(
                    "trusted_proxies = [\"192.0.2.1\"]",
                    &format!("trusted_proxies = [\"{lb}\"]"),
                );
            std::fs::write(&path, s).unwrap();
        }
    }
}

#[test]
fn services_two_destinations_through_a_bastion() {
    let ex = Example::copy("services-bastion");
    assert!(
        ex.sb.hosts().len() >= 3,
        "example 4 needs 3 sandbox hosts (SANDBOX_HOSTS=3)"
    );
    let bastion = ex.net_ip(1);
    // The load balancer is this machine: the proxies see it as the sandbox network's gateway.
    let lb = ex.sb.var("SANDBOX_NETWORK").to_string();
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            &lb,
        ])
        .output()
        .expect("docker network inspect");
    let lb = String::from_utf8_lossy(&out.stdout).trim().to_string();
    adapt(&ex, &lb);
    for (_, i, _) in DESTS {
        // Open before the rule (so the refusal below is the rule's doing), closed after it.
        let open = ssh_direct(&ex, &ex.net_ip(i), "22");
        assert!(
            open.status.success(),
            "direct SSH to host {i} before the rule: {}",
            text(&open)
        );
        bastion_only(&ex, i, &bastion, true);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&ex, &bastion, &lb)));
    for (_, i, _) in DESTS {
        bastion_only(&ex, i, &bastion, false);
    }
    let (what, failed) = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    summary("services-bastion", &what, Some(failed));
}

fn run(ex: &Example, bastion: &str, lb: &str) -> (String, u64) {
    let st = ["-c", "config/static.toml"];
    let mut outputs = String::new();
    for (dest, i, site) in DESTS {
        for port in [("22", ex.net_ip(i)), (ex.sb.ssh_port(), ex.host(i))] {
            let out = ssh_direct(ex, &port.1, port.0);
            assert!(
                !out.status.success(),
                "direct SSH to {}:{} was let in",
                port.1,
                port.0
            );
        }
        ex.dhow(&["remove", "-d", dest, "-y"]);
        ex.dhow(&[st[0], st[1], "remove", "-d", dest, "-y"]);
        for args in [
            vec!["deploy", "-d", dest, "--version", "v1"],
            vec![st[0], st[1], "deploy", "-d", dest, "--version", "v1"],
        ] {
            outputs.push_str(&text(&ex.dhow_ok(&args)));
        }
        // trusted_proxies is a boot setting: a proxy booted earlier gets it here.
        outputs.push_str(&text(&ex.dhow_ok(&["proxy", "reboot", "-d", dest])));
        let addr = ex.sb.http_addr(&ex.host(i));
        let get = |path: &str| http_get(&addr, site, path).expect("GET");
        assert_eq!(get("/"), (200, "tux v1\n".into()));
        assert_eq!(get("/static/logo.png"), (200, "static v1\n".into()));
        let token = std::fs::read_to_string(ex.dir().join(format!(".dhow/api-token-{dest}.local")))
            .unwrap();
        let token = token.trim();
        assert_eq!(
            get("/env").1,
            format!("APP_ENV={dest}\nAPI_TOKEN={token}\n")
        );
        // From the load balancer the client's address is kept; from the bastion it is not.
        let lb_view = forwarded_from_here(&addr, site);
        assert_eq!(lb_view, format!("x-forwarded-for: 203.0.113.7, {lb}"));
        let other = ex.sb.docker_exec(
            &ex.sb.container(1),
            &format!(
                "curl -s -H 'Host: {site}' -H 'X-Forwarded-For: 203.0.113.7' http://{}/forwarded",
                ex.net_ip(i)
            ),
        );
        let other = String::from_utf8_lossy(&other.stdout).trim().to_string();
        assert_eq!(other, format!("x-forwarded-for: {bastion}"));
    }
    let staging = std::fs::read_to_string(ex.dir().join(".dhow/api-token-staging.local")).unwrap();
    let production =
        std::fs::read_to_string(ex.dir().join(".dhow/api-token-production.local")).unwrap();
    assert_ne!(staging, production, "the destinations share a token");

    let (dest, i, site) = DESTS[1];
    let addr = ex.sb.http_addr(&ex.host(i));
    let api = Load::start(&addr, site, "/", 4);
    let files = Load::start(&addr, site, "/static/", 2);
    std::thread::sleep(Duration::from_secs(1));
    outputs.push_str(&text(&ex.dhow_ok(&[
        "deploy",
        "-d",
        dest,
        "--version",
        "v2",
    ])));
    std::thread::sleep(Duration::from_secs(1));
    let (api, files) = (api.stop(), files.stop());
    assert_eq!(
        api.failed, 0,
        "API requests failed during its deploy: {:?}",
        api.failures
    );
    assert_eq!(
        files.failed, 0,
        "static requests failed: {:?}",
        files.failures
    );
    assert!(api.bodies.contains_key("tux v2"), "{:?}", api.bodies);
    for token in [&staging, &production] {
        assert!(
            !outputs.contains(token.trim()),
            "a token appeared in dhow's output"
        );
    }
    for (dest, _, _) in DESTS {
        ex.dhow(&["remove", "-d", dest, "-y"]);
        ex.dhow(&[st[0], st[1], "remove", "-d", dest, "-y"]);
    }
    let what = format!(
        "tux (/) and tux-static (/static) on one proxy per host, staging and production on two \
         hosts through the bastion {bastion} (direct SSH refused), each container with its own \
         token, X-Forwarded-For kept from the LB {lb}, not from the bastion; API redeployed \
         under load ({} API + {} static requests)",
        api.ok, files.ok
    );
    (what, api.failed + files.failed)
}
