//! End-to-end: a service's traffic controls through `dhow deploy` on the sandbox, real
//! binaries: two path prefixes both route (and nothing else does), the service's other host
//! is redirected to its canonical host, a client over the rate limit (by header) gets 429s
//! with Retry-After while another client is unaffected, and the service's own error pages
//! are served when its app is down (502) and in maintenance. Service `trf` (hosts
//! trf.test, www.trf.test), on its own so it shares no route with another test.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::{ssh_toml, text, Project, Sandbox};

/// The whole answer (head and body) to one GET with extra header lines.
fn answer(addr: &str, host: &str, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header(answer: &str, name: &str) -> Option<String> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn config(sb: &Sandbox) -> String {
    let hosts: Vec<String> = sb.hosts().iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        r#"service = "trf"
image = "dhow-test/trf"
servers = [{servers}]
deploy_timeout = "20s"
drain_timeout = "5s"
retain_containers = 2

[builder]
context = "app"

[proxy]
hosts = ["trf.test", "www.trf.test"]
canonical_host = "trf.test"
app_port = 3000
path_prefixes = ["/api", "/admin"]
error_pages_path = "pages"

[proxy.healthcheck]
path = "/up"
interval = "200ms"

[proxy.rate_limit]
requests = 3
per = "1m"
by = "header:X-Client"

{ssh}
"#,
        servers = hosts.join(", "),
        ssh = ssh_toml(sb),
    )
}

#[test]
fn prefixes_canonical_host_rate_limit_and_error_pages_on_the_sandbox() {
    let sb = Sandbox::load();
    let p = Project::new(&config(&sb));
    p.write("pages/502.html", "<h1>trf is down</h1>");
    p.write("pages/maintenance.html", "<h1>trf: {{ .Message }}</h1>");
    let dry = text(&p.dhow_ok(&["deploy", "--version", "t1", "--dry-run"]));
    assert!(
        dry.contains("under /api, /admin")
            && dry.contains("rate limit: 3 requests per 60000 ms per client (header:X-Client)")
            && dry.contains("redirect the other hosts to trf.test")
            && dry.contains("error pages: 502, maintenance"),
        "{dry}"
    );
    p.dhow_ok(&["deploy", "--version", "t1"]);
    let host = &sb.hosts()[0];
    let addr = sb.http_addr(host);
    let client = |name: &str| format!("X-Client: {name}\r\n");

    // Both prefixes route; a path under neither is not this service's.
    for path in ["/api/items?page=2", "/admin"] {
        let a = answer(&addr, "trf.test", path, &client("paths"));
        assert_eq!(status(&a), 200, "{path}: {a}");
        assert!(a.ends_with("demo t1\n"), "{path}: {a}");
    }
    let a = answer(&addr, "trf.test", "/other", "");
    assert_eq!(status(&a), 404, "{a}");

    // The other host is sent to the canonical one, path and query kept.
    let a = answer(&addr, "www.trf.test", "/api/x?y=1", "");
    assert_eq!(status(&a), 301, "{a}");
    assert_eq!(
        header(&a, "location").as_deref(),
        Some("http://trf.test/api/x?y=1")
    );

    // Client "a" gets 3, then 429s with Retry-After; client "b" is unaffected.
    let statuses: Vec<u16> = (0..5)
        .map(|_| status(&answer(&addr, "trf.test", "/api/a", &client("a"))))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let limited = answer(&addr, "trf.test", "/api/a", &client("a"));
    assert_eq!(status(&limited), 429, "{limited}");
    let retry: u64 = header(&limited, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    for _ in 0..3 {
        let b = answer(&addr, "trf.test", "/api/b", &client("b"));
        assert_eq!(status(&b), 200, "{b}");
    }

    // Maintenance shows the service's own page with the message.
    p.dhow_ok(&["app", "maintenance", "--message", "back at 5", "-h", host]);
    let a = answer(&addr, "trf.test", "/api/m", &client("m"));
    assert_eq!(status(&a), 503, "{a}");
    assert!(a.ends_with("<h1>trf: back at 5</h1>"), "{a}");
    p.dhow_ok(&["app", "live", "-h", host]);
    assert_eq!(
        status(&answer(&addr, "trf.test", "/api/m", &client("m"))),
        200
    );

    // The app's container gone: its own 502 page, as HTML.
    let container = text(&sb.docker_exec(
        &sb.container(1),
        "docker ps -q --filter label=dhow.service=trf",
    ));
    let ids: Vec<&str> = container.split_whitespace().collect();
    assert!(!ids.is_empty(), "no trf container on {host}");
    sb.docker_exec(
        &sb.container(1),
        &format!("docker stop -t 1 {}", ids.join(" ")),
    );
    let a = answer(&addr, "trf.test", "/api/down", &client("down"));
    assert_eq!(status(&a), 502, "{a}");
    assert!(a.ends_with("<h1>trf is down</h1>"), "{a}");
    assert!(
        header(&a, "content-type").is_some_and(|c| c.starts_with("text/html")),
        "{a}"
    );

    p.dhow_ok(&["app", "remove", "-y"]);
}
