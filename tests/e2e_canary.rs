//! End-to-end: a canary rollout on both sandbox hosts, real binaries and real load.
//! - `deploy --canary 20`: the new version runs beside the current one; 1,000 clients (each
//!   its own connection and cookie jar) are 20 % ± 4 % on it, each stays on one version for
//!   10 requests, and on the other host too with its cookie;
//! - a plain deploy is refused while the canary runs (its container does not stay);
//! - `rollout status` shows both versions' requests; the canary survives `proxy reboot`;
//! - `rollout set 50`, `rollout abort`, a new canary and `rollout finish` under 64 + 16
//!   keep-alive connections: 0 failed; abort stops the canary, finish stops the old version;
//! - the audit log has every step.
//!
//! Service `can`, on its own so it shares no route with another test.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::load::Load;
use support::{config, text, Project, Sandbox};

const SVC: &str = "can";

/// A browser-like client: one keep-alive connection, a cookie jar.
struct Client {
    out: TcpStream,
    input: BufReader<TcpStream>,
    cookie: Option<String>,
}

impl Client {
    fn new(addr: &str) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            input: BufReader::new(s.try_clone().unwrap()),
            out: s,
            cookie: None,
        }
    }

    /// GET / for the service: the body; a Set-Cookie of the canary's cookie fills the jar.
    fn get(&mut self) -> String {
        let cookie = match &self.cookie {
            Some(c) => format!("Cookie: theme=dark; {c}\r\n"),
            None => String::new(),
        };
        write!(
            self.out,
            "GET / HTTP/1.1\r\nHost: {SVC}.test\r\n{cookie}\r\n"
        )
        .unwrap();
        let mut line = String::new();
        self.input.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut len = None;
        loop {
            let mut h = String::new();
            self.input.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap();
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.parse::<usize>().ok();
            }
            if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap().to_string();
                assert!(pair.starts_with("dhow_canary="), "{pair}");
                assert!(
                    self.cookie.is_none(),
                    "a client with the cookie got another"
                );
                self.cookie = Some(pair);
            }
        }
        let mut body = vec![0; len.expect("a Content-Length")];
        self.input.read_exact(&mut body).unwrap();
        String::from_utf8_lossy(&body).trim().to_string()
    }
}

/// Containers of the service on host i: `name state`, sorted.
fn containers(sb: &Sandbox, i: usize) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(i),
        &format!("docker ps -a --filter label=dhow.service={SVC} --format '{{{{.Names}}}} {{{{.State}}}}'"),
    );
    let mut list: Vec<String> = text(&out).lines().map(str::to_string).collect();
    list.sort();
    list
}

fn running(sb: &Sandbox, i: usize) -> Vec<String> {
    containers(sb, i)
        .into_iter()
        .filter_map(|c| c.strip_suffix(" running").map(str::to_string))
        .collect()
}

/// Load on both hosts' proxies: 64 connections on the first, 16 on the second.
fn load(sb: &Sandbox) -> [Load; 2] {
    let host = format!("{SVC}.test");
    [
        Load::start(&sb.http_addr(&sb.hosts()[0]), &host, "/", 64),
        Load::start(&sb.http_addr(&sb.hosts()[1]), &host, "/", 16),
    ]
}

fn no_failures(load: [Load; 2], what: &str) -> Vec<String> {
    let mut versions = Vec::new();
    for r in load.into_iter().map(Load::stop) {
        assert_eq!(r.failed, 0, "{what}: {:?}", r.failures);
        assert!(r.ok > 0, "{what}: no request answered");
        versions.extend(r.bodies.keys().cloned());
    }
    versions.sort();
    versions.dedup();
    versions
}

#[test]
fn a_canary_splits_clients_stickily_and_is_set_aborted_and_finished_with_no_failed_request() {
    let sb = Sandbox::load();
    let p = Project::new(&config(&sb, SVC, ""));
    p.dhow(&["remove", "-y"]);
    p.dhow_ok(&["deploy", "--version", "c1"]);
    let out = text(&p.dhow_ok(&["deploy", "--canary", "20", "--version", "c2", "--dry-run"]));
    assert!(out.contains("20% of clients"), "{out}");
    let out = text(&p.dhow_ok(&["deploy", "--canary", "20", "--version", "c2"]));
    assert!(out.contains("canary of can c2 for 20% of clients"), "{out}");
    for i in [1, 2] {
        assert_eq!(running(&sb, i), ["can-web-c1", "can-web-c2"], "host {i}");
    }

    // 1,000 clients, 10 requests each, on the first host; sticky, and on the second too.
    let (a, b) = (sb.http_addr(&sb.hosts()[0]), sb.http_addr(&sb.hosts()[1]));
    let sides: Vec<(String, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..25)
            .map(|_| {
                scope.spawn(|| {
                    (0..40)
                        .map(|_| {
                            let mut c = Client::new(&a);
                            let first = c.get();
                            for _ in 1..10 {
                                assert_eq!(c.get(), first, "a client changed versions");
                            }
                            (c.cookie.expect("every client got the cookie"), first)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let on_canary = sides.iter().filter(|(_, v)| v == "demo c2").count();
    assert!(
        (160..=240).contains(&on_canary),
        "{on_canary} of 1,000 clients on the canary at 20%"
    );
    for (cookie, version) in sides.iter().take(100) {
        let mut c = Client::new(&b);
        c.cookie = Some(cookie.clone());
        assert_eq!(&c.get(), version, "the other host put {cookie} elsewhere");
    }

    // A plain deploy waits for the rollout to end; its container does not stay.
    let out = text(&p.dhow(&["deploy", "--version", "c9"]));
    assert!(
        out.contains("rollout finish") && out.contains("c2"),
        "{out}"
    );
    assert!(
        !running(&sb, 1).iter().any(|c| c.contains("c9")),
        "{:?}",
        running(&sb, 1)
    );

    let status = text(&p.dhow_ok(&["rollout", "status"]));
    assert!(
        status.contains("canary") && status.contains("c2"),
        "{status}"
    );
    assert!(
        status.contains("stable") && status.contains("c1"),
        "{status}"
    );
    let json = text(&p.dhow_ok(&["--json", "rollout", "status"]));
    assert!(json.contains("\"requests\""), "{json}");

    // Under load: the proxy replaced, 50 %, abort.
    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    p.dhow_ok(&["proxy", "reboot"]);
    let status = text(&p.dhow_ok(&["rollout", "status"]));
    assert!(
        status.contains("c2"),
        "the canary survives a proxy reboot: {status}"
    );
    p.dhow_ok(&["rollout", "set", "50"]);
    std::thread::sleep(Duration::from_millis(1000));
    let versions = no_failures(l, "proxy reboot and set 50");
    assert_eq!(versions, ["demo c1", "demo c2"]);
    let kept: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = sides
            .chunks(40)
            .map(|chunk| {
                let a = &a;
                scope.spawn(move || {
                    let mut kept = 0;
                    for (cookie, version) in chunk {
                        let mut c = Client::new(a);
                        c.cookie = Some(cookie.clone());
                        let now = c.get();
                        if version == "demo c2" {
                            assert_eq!(now, "demo c2", "a canary client left it when it grew");
                        }
                        kept += usize::from(now == "demo c2");
                    }
                    kept
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert!((420..=580).contains(&kept), "{kept} of 1,000 at 50%");

    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    p.dhow_ok(&["rollout", "abort"]);
    std::thread::sleep(Duration::from_millis(500));
    no_failures(l, "abort");
    for i in [1, 2] {
        assert_eq!(running(&sb, i), ["can-web-c1"], "host {i} after abort");
    }
    let out = text(&p.dhow(&["rollout", "finish"]));
    assert!(out.contains("no canary runs"), "{out}");

    // A new canary, finished under load.
    p.dhow_ok(&["deploy", "--canary", "30", "--version", "c3"]);
    let l = load(&sb);
    std::thread::sleep(Duration::from_millis(500));
    p.dhow_ok(&["rollout", "finish"]);
    std::thread::sleep(Duration::from_millis(500));
    let versions = no_failures(l, "finish");
    assert!(versions.contains(&"demo c3".to_string()), "{versions:?}");
    for i in [1, 2] {
        assert_eq!(running(&sb, i), ["can-web-c3"], "host {i} after finish");
        assert_eq!(support::version_on(&sb, &sb.hosts()[i - 1], SVC), "demo c3");
    }
    let status = text(&p.dhow_ok(&["rollout", "status"]));
    assert!(status.contains("no canary"), "{status}");

    let audit = text(&p.dhow_ok(&["audit"]));
    for action in ["canary", "rollout set", "rollout abort", "rollout finish"] {
        assert!(
            audit.contains(action),
            "{action} not in the audit log: {audit}"
        );
    }
    p.dhow_ok(&["remove", "-y"]);
}
