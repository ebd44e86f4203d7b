//! Faults injected into real deploys on the sandbox (`make test-faults`): a crash-looping
//! version, a host down before the deploy, the SSH connection to a host cut mid-deploy, the
//! proxy replaced, restarted and killed under load, a host rebooted, and a scan for secret
//! values after a deploy.
//! The scenarios restart proxies and hosts, so they run one after another in one test (and
//! their own test binary, beside nothing else), then print one line per scenario: what was
//! injected, what was observed, and the requests that failed meanwhile.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::load::{Load, Report};
use support::{config, config_with_servers, http_get, text, version_on, Project, Sandbox};

struct Row {
    scenario: &'static str,
    injected: String,
    observed: String,
    failed: String,
}

fn stamp(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}{t}")
}

/// Poll until `f` holds or `within` passes; returns how long it took.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn serves(sb: &Sandbox, host: &str, svc: &str, body: &str) -> bool {
    matches!(http_get(&sb.http_addr(host), &format!("{svc}.test"), "/"),
        Ok((200, b)) if b.trim() == body)
}

fn crash_loop(sb: &Sandbox) -> Row {
    let svc = "fcrash";
    let p = Project::new(&config(sb, svc, ""));
    let (v1, v2) = (stamp("c"), stamp("d"));
    p.dhow_ok(&["deploy", "--version", &v1]);
    let loads: Vec<Load> = sb
        .hosts()
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), &format!("{svc}.test"), "/", 16))
        .collect();
    p.write(
        "config/deploy.toml",
        &config(sb, svc, "[env.clear]\nCRASH_ON_START = \"1\"\n")
            .replace("deploy_timeout = \"20s\"", "deploy_timeout = \"6s\""),
    );
    let out = p.dhow(&["deploy", "--version", &v2]);
    let msg = text(&out);
    let failed: u64 = loads.into_iter().map(|l| l.stop().failed).sum();
    assert_eq!(out.status.code(), Some(7), "{msg}");
    assert!(
        msg.contains("exit") && msg.contains("CRASH_ON_START=1, exiting with status 1"),
        "the exit code and the container's last log lines are shown:\n{msg}"
    );
    for h in sb.hosts() {
        assert_eq!(version_on(sb, &h, svc), format!("demo {v1}"));
    }
    assert_eq!(
        failed, 0,
        "requests failed while the new version crash-looped"
    );
    Row {
        scenario: "crash-looping version",
        injected: "new container exits 1 at start".into(),
        observed: "exit 7, exit status and last log lines shown, old version serving".into(),
        failed: failed.to_string(),
    }
}

fn host_down(sb: &Sandbox) -> Row {
    let svc = "fdown";
    let hosts = sb.hosts();
    let dead = "127.0.0.13";
    let servers = format!("servers = [\"{}\", \"{}\", \"{dead}\"]", hosts[0], hosts[1]);
    let p = Project::new(&config_with_servers(sb, svc, &servers, ""));
    let v1 = stamp("e");
    // What each host serves for the service now (404 on a fresh sandbox; an earlier run's
    // version on a reused one).
    let serving = |h: &String| http_get(&sb.http_addr(h), &format!("{svc}.test"), "/").unwrap();
    let before: Vec<_> = hosts.iter().map(serving).collect();
    let out = p.dhow(&["deploy", "--version", &v1]);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(4), "{msg}");
    assert!(
        msg.contains(dead) && msg.contains("nothing was changed"),
        "{msg}"
    );
    let after: Vec<_> = hosts.iter().map(serving).collect();
    assert_eq!(before, after, "a host changed although one was down");
    let only = format!("{},{}", hosts[0], hosts[1]);
    p.dhow_ok(&["deploy", "--version", &v1, "-h", &only]);
    for h in &hosts {
        assert_eq!(version_on(sb, h, svc), format!("demo {v1}"));
    }
    Row {
        scenario: "one of three hosts down",
        injected: format!("{dead} unreachable before the deploy"),
        observed: "exit 4 naming it, no host changed; with -h the other two deployed".into(),
        failed: "n/a".into(),
    }
}

fn ssh_cut(sb: &Sandbox) -> Row {
    let svc = "fcut";
    let hosts = sb.hosts();
    let extra = "[env.clear]\nSTART_DELAY = \"4\"\n";
    let mk = |extra: &str| {
        config(sb, svc, extra).replace(
            "[ssh]\n",
            "[ssh]\nkeepalive = \"1s\"\nconnect_timeout = \"3s\"\n",
        )
    };
    let p = Project::new(&mk(""));
    let (v1, v2) = (stamp("f"), stamp("g"));
    p.dhow_ok(&["deploy", "--version", &v1]);
    p.write("config/deploy.toml", &mk(extra));
    let load = Load::start(&sb.http_addr(&hosts[0]), &format!("{svc}.test"), "/", 16);
    let victim = sb.container(2);
    let child = p
        .cmd(&["deploy", "--version", &v2])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Cut host 2 while its new container is starting (it waits START_DELAY before listening).
    std::thread::sleep(Duration::from_millis(2500));
    let paused = std::process::Command::new("docker")
        .args(["pause", &victim])
        .status()
        .unwrap();
    assert!(paused.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let _ = std::process::Command::new("docker")
        .args(["unpause", &victim])
        .status();
    let msg = text(&out);
    let report = load.stop();
    assert!(
        !out.status.success(),
        "a deploy with a cut host must fail:\n{msg}"
    );
    assert!(msg.contains(&hosts[1]), "names the cut host:\n{msg}");
    let lock = p.dhow_ok(&["lock", "status"]);
    assert!(text(&lock).contains("not locked"), "{}", text(&lock));
    // Host 1 kept serving the whole time (the old or the new version, never an error).
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    // Once the host is back, running the deploy again converges every host.
    p.write("config/deploy.toml", &mk(""));
    let again = p.dhow(&["deploy", "--version", &v2]);
    assert!(again.status.success(), "re-run:\n{}", text(&again));
    for h in &hosts {
        assert_eq!(version_on(sb, h, svc), format!("demo {v2}"));
    }
    let line = msg
        .lines()
        .find(|l| l.starts_with("error") || l.contains("  error"))
        .or_else(|| {
            msg.lines()
                .find(|l| l.contains(&hosts[1]) && l.contains("fail"))
        })
        .unwrap_or("")
        .trim()
        .chars()
        .take(160)
        .collect::<String>();
    Row {
        scenario: "SSH to a host cut mid-deploy",
        injected: "host 2 paused 2.5s into the deploy".into(),
        observed: format!(
            "failed after {:.1}s naming it ({line}); lock released; re-run converged",
            took.as_secs_f64()
        ),
        failed: format!("{} (host 1)", report.failed),
    }
}

/// One proxy fault under a strict load (16 keep-alive connections, no retries): `inject` runs
/// on host 1; then the routes must come back and a second load must see no failure. Returns
/// the load's report and how long until the service answered again.
fn proxy_fault(sb: &Sandbox, svc: &str, inject: &dyn Fn(&Project)) -> (Report, Duration) {
    let host = sb.hosts()[0].clone();
    let p = Project::new(&config_with_servers(
        sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        "",
    ));
    let v1 = stamp("h");
    p.dhow_ok(&["deploy", "--version", &v1]);
    let load = Load::start(&sb.http_addr(&host), &format!("{svc}.test"), "/", 16);
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    inject(&p);
    let back = wait_until(Duration::from_secs(30), || {
        serves(sb, &host, svc, &format!("demo {v1}"))
    });
    let gap = t0.elapsed();
    std::thread::sleep(Duration::from_millis(1000));
    let report = load.stop();
    assert!(
        back.is_some(),
        "routes did not come back after the proxy fault"
    );
    // After it is back, nothing fails.
    let after = Load::start(&sb.http_addr(&host), &format!("{svc}.test"), "/", 8);
    std::thread::sleep(Duration::from_millis(1000));
    let after = after.stop();
    assert_eq!(after.failed, 0, "{:?}", after.failures);
    (report, gap)
}

fn failed_line(r: &Report) -> String {
    format!(
        "{} of {} ({}); longest wait of a client {} ms; 0 after",
        r.failed,
        r.failed + r.ok,
        r.failures.first().map_or("none", String::as_str),
        r.longest_wait.as_millis()
    )
}

fn proxy_restart(sb: &Sandbox) -> Row {
    let (report, gap) = proxy_fault(sb, "fprox", &|_| {
        let restart = sb.docker_exec(&sb.container(1), "docker restart -t 30 dhow-proxy");
        assert!(restart.status.success(), "{}", text(&restart));
    });
    Row {
        scenario: "proxy restarted under load",
        injected: "docker restart dhow-proxy (SIGTERM, graceful)".into(),
        observed: format!(
            "connections wait in the port holder's queues; routes back from the state file; \
             serving again {:.1}s after the restart began",
            gap.as_secs_f64()
        ),
        failed: failed_line(&report),
    }
}

fn proxy_killed(sb: &Sandbox) -> Row {
    let (report, gap) = proxy_fault(sb, "fkill", &|_| {
        let kill = sb.docker_exec(
            &sb.container(1),
            "kill -KILL \"$(docker inspect -f '{{.State.Pid}}' dhow-proxy)\"",
        );
        assert!(kill.status.success(), "{}", text(&kill));
    });
    Row {
        scenario: "proxy process killed under load",
        injected: "kill -9 of the proxy process (Docker restarts it)".into(),
        observed: format!(
            "requests in flight on it are lost; new connections wait in the holder's queues; \
             serving again {:.1}s after the kill",
            gap.as_secs_f64()
        ),
        failed: failed_line(&report),
    }
}

fn proxy_replaced(sb: &Sandbox) -> Row {
    let (report, gap) = proxy_fault(sb, "frepl", &|p| {
        p.dhow_ok(&["proxy", "reboot"]);
    });
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    Row {
        scenario: "proxy replaced under load",
        injected: "dhow proxy reboot".into(),
        observed: format!(
            "new proxy beside the old, handover; done {:.1}s after it began",
            gap.as_secs_f64()
        ),
        failed: failed_line(&report),
    }
}

fn host_reboot(sb: &Sandbox) -> Row {
    let svc = "fboot";
    let host = sb.hosts()[1].clone();
    let v1 = stamp("i");
    // An accessory beside the app (the app's own image, already on the host after the deploy).
    let p = Project::new(&config_with_servers(
        sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        &format!(
            "[accessories.side]\nimage = \"dhow-test/{svc}:{v1}\"\nhost = \"{host}\"\n\
             port = \"16100:3000\"\nenv = {{ clear = {{ DHOW_VERSION = \"side\" }} }}\n"
        ),
    ));
    p.dhow_ok(&["deploy", "--version", &v1]);
    p.dhow_ok(&["accessory", "boot", "side"]);
    let side_answers = || {
        let out = sb.docker_exec(
            &sb.container(2),
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/16100; \
             printf \"GET / HTTP/1.0\\r\\nConnection: close\\r\\n\\r\\n\" >&3; cat <&3'",
        );
        text(&out).contains("demo side")
    };
    assert!(side_answers(), "the accessory answers before the reboot");
    let t0 = Instant::now();
    let out = std::process::Command::new("docker")
        .args(["restart", "-t", "10", &sb.container(2)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let back = wait_until(Duration::from_secs(120), || {
        serves(sb, &host, svc, &format!("demo {v1}"))
    });
    assert!(
        back.is_some(),
        "after a reboot the proxy and the app must come back by themselves"
    );
    assert!(
        wait_until(Duration::from_secs(60), side_answers).is_some(),
        "after a reboot the accessory must come back by itself"
    );
    // dhow still reaches it afterwards.
    p.dhow_ok(&["app", "version"]);
    p.dhow_ok(&["accessory", "remove", "side", "-y"]);
    Row {
        scenario: "host rebooted",
        injected: "the VPS container restarted".into(),
        observed: format!(
            "proxy, app and accessory back by themselves after {:.1}s",
            t0.elapsed().as_secs_f64()
        ),
        failed: "n/a (host down)".into(),
    }
}

fn secrets_scan(sb: &Sandbox) -> Row {
    let svc = "fsec";
    let value = format!("sv-{}-do-not-print", stamp(""));
    let p = Project::new(&config(sb, svc, "[env]\nsecret = [\"DEMO_SECRET\"]\n"));
    p.write(".dhow/secrets", &format!("DEMO_SECRET={value}\n"));
    // Watch the local process list while the deploy runs.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, seen, value) = (stop.clone(), seen.clone(), value.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(out) = std::process::Command::new("ps")
                    .args(["-eo", "args"])
                    .output()
                {
                    let t = String::from_utf8_lossy(&out.stdout).into_owned();
                    if t.contains(&value) {
                        seen.lock().unwrap().push(t);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let v1 = stamp("s");
    let human = p.dhow_ok(&["deploy", "--version", &v1, "-v"]);
    let json = p.dhow_ok(&["deploy", "--version", &stamp("t"), "--json"]);
    let config_out = p.dhow_ok(&["config"]);
    let audit = p.dhow_ok(&["audit"]);
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    for (what, out) in [
        ("deploy output", &human),
        ("--json output", &json),
        ("dhow config", &config_out),
        ("dhow audit", &audit),
    ] {
        assert!(!text(out).contains(&value), "the secret is in the {what}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the secret was in the process list"
    );
    // Nothing in the project but the secrets file holds it.
    let mut leaks = Vec::new();
    for entry in walk(p.path()) {
        if entry.ends_with(".dhow/secrets") {
            continue;
        }
        if std::fs::read(&entry)
            .map(|b| b.windows(value.len()).any(|w| w == value.as_bytes()))
            .unwrap_or(false)
        {
            leaks.push(entry.display().to_string());
        }
    }
    assert!(leaks.is_empty(), "secret left in {leaks:?}");
    // The env file on each host: mode 0600, owned by the deploy user, and the app got it.
    for i in 1..=sb.hosts().len() {
        let st = sb.docker_exec(
            &sb.container(i),
            &format!("stat -c '%a %U' /root/.dhow/{svc}/env/web.env"),
        );
        assert_eq!(text(&st).trim(), "600 root", "host {i}");
    }
    let audit_on_host = sb.docker_exec(
        &sb.container(1),
        &format!("cat /root/.dhow/{svc}/audit.log"),
    );
    assert!(
        !text(&audit_on_host).contains(&value),
        "the secret is in the host's audit log"
    );
    Row {
        scenario: "secret values after a deploy",
        injected: "env.secret DEMO_SECRET from .dhow/secrets".into(),
        observed: "absent from output (human, --json), ps, dhow config, audit logs, project files; env file 0600 root".into(),
        failed: "n/a".into(),
    }
}

/// A TCP forwarder to `to` that cuts every connection (and stops accepting) once `limit` bytes
/// went from clients to the server: a registry lost in the middle of a push.
fn cutting_forwarder(to: &str, limit: usize) -> (String, Arc<AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cut = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (to, cut2) = (to.to_string(), cut.clone());
    std::thread::spawn(move || {
        let mut conns: Vec<std::net::TcpStream> = Vec::new();
        for client in listener.incoming() {
            if cut2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            conns.push(client.try_clone().unwrap());
            conns.push(server.try_clone().unwrap());
            let pipe = |mut from: std::net::TcpStream,
                        mut into: std::net::TcpStream,
                        count: Option<(Arc<std::sync::atomic::AtomicUsize>, Arc<AtomicBool>)>| {
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let mut buf = [0u8; 16384];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if let Some((sent, cut)) = &count {
                            if sent.fetch_add(n, Ordering::SeqCst) + n > limit {
                                cut.store(true, Ordering::SeqCst);
                            }
                            if cut.load(Ordering::SeqCst) {
                                break;
                            }
                        }
                        if into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = into.shutdown(std::net::Shutdown::Both);
                });
            };
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                Some((sent.clone(), cut2.clone())),
            );
            pipe(server, client, None);
            if cut2.load(Ordering::SeqCst) {
                for c in &conns {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    });
    (addr, cut)
}

fn registry_lost(sb: &Sandbox) -> Row {
    let svc = "freg";
    let p = Project::new(&config(sb, svc, ""));
    let (v1, v2) = (stamp("r"), stamp("s"));
    p.dhow_ok(&["deploy", "--version", &v1]);
    let (addr, cut) = cutting_forwarder(sb.var("SANDBOX_REGISTRY"), 64 * 1024);
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    p.write(
        "config/deploy.toml",
        &config(
            sb,
            svc,
            &format!(
                "[registry]\nserver = \"{addr}\"\nusername = \"dhow\"\npassword = \"REGISTRY_PASSWORD\"\n"
            ),
        ),
    );
    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));
    let out = p.dhow(&["deploy", "--version", &v2]);
    let msg = text(&out);
    assert!(
        cut.load(Ordering::SeqCst),
        "the push never got far enough to be cut:\n{msg}"
    );
    assert!(!out.status.success(), "a cut push must fail:\n{msg}");
    assert!(
        msg.to_lowercase().contains("push"),
        "says the push failed:\n{msg}"
    );
    for (i, h) in sb.hosts().iter().enumerate() {
        assert_eq!(version_on(sb, h, svc), format!("demo {v1}"));
        let names = sb.docker_exec(
            &sb.container(i + 1),
            &format!("docker ps -a --filter label=dhow.service={svc} --format '{{{{.Names}}}}'"),
        );
        assert!(
            !text(&names).contains(&v2),
            "host {h} was touched: {}",
            text(&names)
        );
    }
    let first = msg
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or("")
        .chars()
        .take(140)
        .collect::<String>();
    Row {
        scenario: "registry lost mid-push",
        injected: "registry connection cut after 64 KiB of upload".into(),
        observed: format!("deploy stopped before any host ({first})"),
        failed: "0 (no host touched)".into(),
    }
}

fn non_root_user(sb: &Sandbox) -> Row {
    let svc = "fuser";
    let host = sb.hosts()[0].clone();
    let user = "dhow-deployer";
    let setup = sb.docker_exec(
        &sb.container(1),
        &format!(
            "id {user} >/dev/null 2>&1 || useradd -m -s /bin/sh -G docker {user}; \
             mkdir -p /home/{user}/.ssh && cp /root/.ssh/authorized_keys /home/{user}/.ssh/ && \
             chown -R {user} /home/{user}/.ssh && chmod 700 /home/{user}/.ssh"
        ),
    );
    assert!(setup.status.success(), "{}", text(&setup));
    let cfg = config_with_servers(sb, svc, &format!("servers = [\"{host}\"]"), "")
        .replace("user = \"root\"", &format!("user = \"{user}\""));
    assert!(cfg.contains(user));
    let p = Project::new(&cfg);
    let (v1, v2) = (stamp("u"), stamp("v"));
    // A proxy booted for root only (as dhow did before the control socket got the docker
    // group): the deploy says so, with the fix. (Booted first as root, so the host has a
    // proxy and its image to copy even when this scenario runs alone.)
    Project::new(&config_with_servers(
        sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        "",
    ))
    .dhow_ok(&["proxy", "boot"]);
    support::replace_proxy(sb, 1, "run --https 0.0.0.0:443");
    let out = p.dhow(&["deploy", "--version", &v1]);
    assert!(
        text(&out).contains("may not use it") && text(&out).contains("docker rm -f dhow-proxy"),
        "{}",
        text(&out)
    );
    let _ = sb.docker_exec(&sb.container(1), "docker rm -f dhow-proxy");
    p.dhow_ok(&["deploy", "--version", &v1]);
    p.dhow_ok(&["deploy", "--version", &v2]);
    assert_eq!(version_on(sb, &host, svc), format!("demo {v2}"));
    p.dhow_ok(&["app", "maintenance"]);
    p.dhow_ok(&["app", "live"]);
    p.dhow_ok(&["rollback"]);
    assert_eq!(version_on(sb, &host, svc), format!("demo {v1}"));
    let st = sb.docker_exec(
        &sb.container(1),
        &format!("stat -c '%a %U' /home/{user}/.dhow/{svc}/env/web.env"),
    );
    assert_eq!(text(&st).trim(), format!("600 {user}"));
    Row {
        scenario: "non-root deploy user",
        injected: format!("ssh.user = {user} (in the docker group)"),
        observed: "a root-only proxy is named with the fix; then deploys, maintenance, rollback work; env file 0600 owned by it".into(),
        failed: "n/a".into(),
    }
}

fn proxy_surface(sb: &Sandbox) -> Row {
    // The TCP ports the proxy process listens on, from its network namespace's socket table
    // (Docker's embedded DNS also listens there, on 127.0.0.11 = 0B00007F: not the proxy's).
    // The listening sockets are the port holder's (in its namespace); the proxy container's
    // own namespace listens on nothing.
    let listening = |container: &str| -> Vec<u16> {
        let out = sb.docker_exec(
            &sb.container(1),
            &format!(
                "pid=$(docker inspect -f '{{{{.State.Pid}}}}' {container}) && \
                 cat /proc/$pid/net/tcp /proc/$pid/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {{print $2}}'"
            ),
        );
        let mut ports: Vec<u16> = text(&out)
            .lines()
            .filter(|l| !l.starts_with("0B00007F:"))
            .filter_map(|l| l.rsplit(':').next())
            .filter_map(|h| u16::from_str_radix(h.trim(), 16).ok())
            .collect();
        ports.sort();
        ports.dedup();
        ports
    };
    let ports = listening("dhow-proxy-ports");
    // Exactly what the holder publishes: 80 and 443, and a metrics port when an earlier run
    // on this sandbox booted the proxy with one (client-api-metrics does).
    let published = sb.docker_exec(&sb.container(1), "docker port dhow-proxy-ports");
    let mut want: Vec<u16> = text(&published)
        .lines()
        .filter_map(|l| l.split('/').next()?.trim().parse().ok())
        .collect();
    want.sort();
    want.dedup();
    assert!(
        want.starts_with(&[80, 443]),
        "the holder publishes {want:?}"
    );
    assert_eq!(ports, want, "the proxy listens on TCP ports {ports:?}");
    let own = listening("dhow-proxy");
    assert!(
        own.is_empty(),
        "the proxy's own namespace listens on {own:?}"
    );
    // The control socket is a unix socket on the host only.
    let sock = sb.docker_exec(
        &sb.container(1),
        "stat -c '%F %a' /var/run/dhow-proxy/control.sock",
    );
    assert_eq!(text(&sock).trim(), "socket 660", "{}", text(&sock));
    Row {
        scenario: "proxy's network surface",
        injected: "-".into(),
        observed: format!(
            "listens on TCP {} only (what it publishes); control is a unix socket (0660, docker group); no metrics port unless configured",
            ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
        failed: "n/a".into(),
    }
}

fn disk_full(sb: &Sandbox) -> Row {
    let svc = "fdisk";
    let host = sb.hosts()[1].clone();
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let p = Project::new(&config_with_servers(
        sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        &format!(
            "[registry]\nserver = \"{registry}\"\nusername = \"dhow\"\npassword = \"REGISTRY_PASSWORD\"\n"
        ),
    ));
    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));
    let (v1, v2) = (stamp("x"), stamp("y"));
    p.dhow_ok(&["deploy", "--version", &v1]);
    // v2 brings a new 2 MiB layer, so the host really has something to pull.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ v2.len() as u64;
    let noise: Vec<u8> = (0..2 * 1024 * 1024)
        .map(|_| {
            // xorshift64: incompressible, so the layer stays big in the registry.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(p.path().join("app/noise.bin"), noise).unwrap();
    std::fs::write(p.path().join("app/stamp.txt"), &v2).unwrap();
    let dockerfile = std::fs::read_to_string(p.path().join("app/Dockerfile")).unwrap();
    p.write(
        "app/Dockerfile",
        &format!("{dockerfile}COPY noise.bin stamp.txt /data/\n"),
    );
    // Where the engine stages pulled layers: a 64 KiB tmpfs.
    let full = sb.docker_exec(
        &sb.container(2),
        "mount -t tmpfs -o size=64k tmpfs /var/lib/docker/tmp",
    );
    assert!(full.status.success(), "{}", text(&full));
    let load = Load::start(&sb.http_addr(&host), &format!("{svc}.test"), "/", 8);
    let out = p.dhow(&["deploy", "--version", &v2]);
    let report = load.stop();
    let _ = sb.docker_exec(&sb.container(2), "umount /var/lib/docker/tmp");
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("no space left on device") && msg.contains(&host),
        "a readable message naming the host:\n{msg}"
    );
    assert_eq!(version_on(sb, &host, svc), format!("demo {v1}"));
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    // With space again, the same deploy goes through.
    p.dhow_ok(&["deploy", "--version", &v2]);
    assert_eq!(version_on(sb, &host, svc), format!("demo {v2}"));
    let line = msg
        .lines()
        .find(|l| l.contains("no space left"))
        .unwrap_or("")
        .trim()
        .chars()
        .take(150)
        .collect::<String>();
    Row {
        scenario: "disk full on a host",
        injected: "64 KiB tmpfs where the engine stages pulls; a 2 MiB new layer".into(),
        observed: format!("pull failed, old version serving, re-run converged ({line})"),
        failed: report.failed.to_string(),
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn faults() {
    let sb = Sandbox::load();
    let mut rows = Vec::new();
    type Scenario = fn(&Sandbox) -> Row;
    let scenarios: [(&str, Scenario); 12] = [
        ("crash", crash_loop),
        ("disk", disk_full),
        ("surface", proxy_surface),
        ("user", non_root_user),
        ("registry", registry_lost),
        ("down", host_down),
        ("secrets", secrets_scan),
        ("replace", proxy_replaced),
        ("proxy", proxy_restart),
        ("kill", proxy_killed),
        ("cut", ssh_cut),
        ("reboot", host_reboot),
    ];
    let only = std::env::var("FAULTS").unwrap_or_default();
    for (name, run) in scenarios {
        if !only.is_empty() && !only.split(',').any(|o| o == name) {
            continue;
        }
        eprintln!("== fault scenario: {name}");
        rows.push(run(&sb));
    }
    let w = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8);
    let mut table =
        String::from("\nfault scenarios (requests failed = through the proxies meanwhile):\n");
    for r in &rows {
        table.push_str(&format!(
            "  {:w$} | injected: {} | observed: {} | requests failed: {}\n",
            r.scenario, r.injected, r.observed, r.failed
        ));
    }
    eprintln!("{table}");
}
