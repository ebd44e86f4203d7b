//! End-to-end: replacing the proxy loses nothing. A strict load generator (no retries: every
//! connection error, cut response or non-2xx counts) keeps 64 keep-alive connections on each
//! of the two sandbox hosts while the proxy is replaced five times, alternating two proxy
//! images with different digests (the one this dhow makes, and a variant built from it on the
//! host: a real upgrade each time), with a deploy of the app between two replacements: not
//! one request fails and each image served requests. Then a settings change (the log size
//! cap) goes through the same replacement, and the proxy container's log stays under it; a
//! metrics port and the debug log are applied and shown, and removed again.
//! Its own test binary: it replaces the hosts' proxies.

mod support;

use std::time::Duration;
use support::load::Load;
use support::{config, text, version_on, Project, Sandbox};

const SERVICE: &str = "pxup";
const VARIANT: &str = "dhow-proxy-variant:b";

fn on_host(sb: &Sandbox, i: usize, cmd: &str) -> String {
    let out = sb.docker_exec(&sb.container(i), cmd);
    assert!(out.status.success(), "{cmd}: {}", text(&out));
    text(&out).trim().to_string()
}

/// Access-log lines of requests the running proxy container has answered with 200.
fn served(sb: &Sandbox, i: usize) -> usize {
    let out = sb.docker_exec(&sb.container(i), "docker logs dhow-proxy 2>/dev/null");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"status\":200"))
        .count()
}

#[test]
fn replacing_the_proxy_under_load_fails_no_request() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let plain = config(&sb, SERVICE, "");
    let a = Project::new(&plain);
    a.dhow_ok(&["deploy", "--version", "u1"]);
    // This config's settings and this dhow's image (an earlier run may have left the variant).
    // The first reboot may move a proxy booted by an older layout (a gap, once): before load.
    a.dhow_ok(&["proxy", "reboot"]);
    let ours = on_host(&sb, 1, "docker inspect -f '{{.Config.Image}}' dhow-proxy");
    // The variant: this dhow's proxy image with one more layer of metadata (another digest).
    for i in 1..=hosts.len() {
        on_host(
            &sb,
            i,
            &format!("printf 'FROM {ours}\\nLABEL dhow.test.variant=b\\n' | docker build -q -t {VARIANT} - >/dev/null"),
        );
        assert_ne!(
            on_host(
                &sb,
                i,
                &format!("docker inspect -f '{{{{.Id}}}}' {VARIANT}")
            ),
            on_host(&sb, i, &format!("docker inspect -f '{{{{.Id}}}}' {ours}")),
        );
    }
    let b = Project::new(&plain.replace(
        "app_port = 3000",
        &format!("app_port = 3000\nimage = \"{VARIANT}\""),
    ));

    let loads: Vec<Load> = hosts
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), &format!("{SERVICE}.test"), "/", 64))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut images_served: Vec<(String, usize)> = Vec::new();
    let steps: [(&Project, &str); 5] = [
        (&b, VARIANT),
        (&a, &ours),
        (&b, VARIANT),
        (&a, &ours),
        (&b, VARIANT),
    ];
    for (n, (project, image)) in steps.iter().enumerate() {
        let out = text(&project.dhow_ok(&["proxy", "reboot"]));
        assert_eq!(
            out.matches("proxy replaced with no gap").count(),
            hosts.len(),
            "replacement {n}: {out}"
        );
        for i in 1..=hosts.len() {
            assert_eq!(
                on_host(&sb, i, "docker inspect -f '{{.Config.Image}}' dhow-proxy"),
                *image
            );
        }
        std::thread::sleep(Duration::from_millis(700));
        if n == 1 {
            a.dhow_ok(&["deploy", "--version", "u2"]);
        }
        // The build now running answers the load.
        let counts: usize = (1..=hosts.len()).map(|i| served(&sb, i)).sum();
        images_served.push((image.to_string(), counts));
    }
    let reports: Vec<_> = loads.into_iter().map(Load::stop).collect();
    for (h, r) in hosts.iter().zip(&reports) {
        eprintln!(
            "{h}: {} ok, {} failed, {} reconnects (Connection: close), bodies {:?}",
            r.ok, r.failed, r.reconnects, r.bodies
        );
        assert_eq!(r.failed, 0, "{h}: {:?}", r.failures);
        assert!(r.ok > 1000, "{h}: the load did not run: {r:?}");
        assert!(
            r.bodies.contains_key("demo u1") && r.bodies.contains_key("demo u2"),
            "{h}: both app versions answered during the replacements: {:?}",
            r.bodies
        );
    }
    for (image, count) in &images_served {
        assert!(
            *count > 0,
            "the proxy image {image} served no request: {images_served:?}"
        );
    }
    for h in &hosts {
        assert_eq!(version_on(&sb, h, SERVICE), "demo u2");
    }

    // The proxy container's log is capped: 10m by default, and a changed cap is applied by a
    // replacement with no gap.
    assert_eq!(
        on_host(
            &sb,
            1,
            "docker inspect -f '{{index .HostConfig.LogConfig.Config \"max-size\"}}' dhow-proxy"
        ),
        "10m"
    );
    let small =
        Project::new(&plain.replace("app_port = 3000", "app_port = 3000\nlog_max_size = \"64k\""));
    let out = text(&small.dhow_ok(&["proxy", "reboot"]));
    assert_eq!(
        out.matches("proxy replaced with no gap").count(),
        hosts.len(),
        "{out}"
    );
    let details = text(&small.dhow_ok(&["proxy", "details"]));
    assert!(details.contains("log rotated at 64k"), "{details}");
    let load = Load::start(&sb.http_addr(&hosts[0]), &format!("{SERVICE}.test"), "/", 8);
    std::thread::sleep(Duration::from_secs(3));
    let r = load.stop();
    assert_eq!(r.failed, 0, "{:?}", r.failures);
    let size: u64 = on_host(
        &sb,
        1,
        "stat -c %s \"$(docker inspect -f '{{.LogPath}}' dhow-proxy)\"",
    )
    .parse()
    .expect("size");
    // Each request wrote a line of about 300 bytes: far more than the cap, which holds.
    assert!(
        r.ok * 200 > 64 * 1024 * 2,
        "not enough requests to fill the log: {}",
        r.ok
    );
    assert!(
        size <= 64 * 1024 + 4096,
        "the proxy's log is {size} bytes, over its 64k cap"
    );

    // Settings users set on the proxy: a metrics port (the holder publishes it: a new holder,
    // said so) and the debug log (the proxy only).
    let ops = Project::new(&plain.replace(
        "app_port = 3000",
        "app_port = 3000\nmetrics_port = 9180\ndebug = true",
    ));
    let out = text(&ops.dhow_ok(&["proxy", "reboot"]));
    assert!(
        out.contains("published ports or addresses changed"),
        "{out}"
    );
    let details = text(&ops.dhow_ok(&["proxy", "details"]));
    assert!(details.contains("metrics 9180, debug on"), "{details}");
    assert!(!details.contains("the config says"), "{details}");
    let metrics = on_host(
        &sb,
        1,
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/9180; printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3; cat <&3'",
    );
    assert!(metrics.contains("dhow_proxy_requests_total"), "{metrics}");
    let logs = text(&sb.docker_exec(&sb.container(1), "docker logs dhow-proxy 2>&1"));
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "no debug lines: {logs}"
    );
    // Back to the defaults: the config without those keys, and a reboot.
    let out = text(&a.dhow_ok(&["proxy", "reboot"]));
    assert!(
        out.contains("published ports or addresses changed"),
        "{out}"
    );
    let details = text(&a.dhow_ok(&["proxy", "details"]));
    assert!(
        details.contains("metrics off, debug off, log rotated at 10m"),
        "{details}"
    );
}
