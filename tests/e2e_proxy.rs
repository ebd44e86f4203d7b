//! End-to-end: the proxy's lifecycle through `dhow proxy ...` with two services (two apps with
//! their own config files) sharing the proxy on both sandbox hosts: details lists both,
//! remove refuses while the other one is routed, a rolling reboot replaces every proxy and
//! both services serve again, stop/start, logs from every host, and removing one app leaves
//! the other serving. Its own test binary: it replaces the hosts' proxies.

mod support;

use support::load::Load;
use support::{config, http_get, text, version_on, Project, Sandbox};

fn proxy_id(sb: &Sandbox, i: usize) -> String {
    text(&sb.docker_exec(&sb.container(i), "docker inspect -f '{{.Id}}' dhow-proxy"))
        .trim()
        .to_string()
}

#[test]
fn two_services_share_the_proxy_through_its_lifecycle() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let a = Project::new(&config(&sb, "pxa", ""));
    let b = Project::new(&config(&sb, "pxb", ""));
    a.dhow_ok(&["deploy", "--version", "a1"]);
    b.dhow_ok(&["deploy", "--version", "b1"]);
    for h in &hosts {
        assert_eq!(version_on(&sb, h, "pxa"), "demo a1");
        assert_eq!(version_on(&sb, h, "pxb"), "demo b1");
    }

    let details = text(&a.dhow_ok(&["proxy", "details"]));
    for h in &hosts {
        assert!(
            details.contains(h) && details.contains("pxa-web") && details.contains("pxb-web"),
            "{details}"
        );
    }
    // The same as data: one `proxy` event per host with its routes.
    let out = a.dhow_ok(&["proxy", "details", "--json"]);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["event"] == "proxy")
        .collect();
    assert_eq!(events.len(), hosts.len(), "{events:#?}");
    for e in &events {
        assert_eq!(e["running"], true);
        let names: Vec<&str> = e["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert!(
            names.contains(&"pxa-web") && names.contains(&"pxb-web"),
            "{e}"
        );
    }

    let out = a.dhow(&["proxy", "remove", "-y"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("pxb-web") && text(&out).contains("--force"),
        "{}",
        text(&out)
    );

    // A rolling reboot under load: every proxy replaced, both services back.
    let before: Vec<String> = (1..=hosts.len()).map(|i| proxy_id(&sb, i)).collect();
    let loads: Vec<Load> = hosts
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), "pxa.test", "/", 8))
        .collect();
    let out = a.dhow_ok(&["proxy", "reboot", "--rolling"]);
    let report: Vec<_> = loads.into_iter().map(Load::stop).collect();
    let t = text(&out);
    assert_eq!(t.matches("proxy replaced").count(), hosts.len(), "{t}");
    for (i, h) in hosts.iter().enumerate() {
        assert_ne!(
            proxy_id(&sb, i + 1),
            before[i],
            "the proxy on {h} was not replaced"
        );
        assert_eq!(version_on(&sb, h, "pxa"), "demo a1");
        assert_eq!(version_on(&sb, h, "pxb"), "demo b1");
    }
    eprintln!(
        "rolling reboot: failed requests per host {:?} of {:?}",
        report.iter().map(|r| r.failed).collect::<Vec<_>>(),
        report.iter().map(|r| r.ok + r.failed).collect::<Vec<_>>()
    );
    // After the reboot nothing fails.
    let after: Vec<Load> = hosts
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), "pxa.test", "/", 8))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(800));
    for r in after.into_iter().map(Load::stop) {
        assert_eq!(r.failed, 0, "{:?}", r.failures);
    }

    // Stop and start.
    a.dhow_ok(&["proxy", "stop", "-h", &hosts[0]]);
    assert!(http_get(&sb.http_addr(&hosts[0]), "pxa.test", "/").is_err());
    assert_eq!(
        version_on(&sb, &hosts[1], "pxa"),
        "demo a1",
        "the other host serves"
    );
    a.dhow_ok(&["proxy", "start", "-h", &hosts[0]]);
    assert_eq!(version_on(&sb, &hosts[0], "pxa"), "demo a1");

    // Logs come from every host, prefixed.
    let logs = text(&a.dhow_ok(&["proxy", "logs", "-n", "5"]));
    for h in &hosts {
        assert!(logs.contains(h.as_str()), "{logs}");
    }

    // Removing one app leaves the other serving.
    b.dhow_ok(&["app", "remove", "-y"]);
    for h in &hosts {
        assert_eq!(version_on(&sb, h, "pxa"), "demo a1");
        let (status, _) = http_get(&sb.http_addr(h), "pxb.test", "/").unwrap();
        assert_eq!(status, 404, "pxb is gone from {h}");
    }

    // `dhow prune` removes proxy images of older releases that no container uses.
    let tagged = sb.docker_exec(
        &sb.container(1),
        "docker tag \"$(docker inspect -f '{{.Config.Image}}' dhow-proxy)\" dhow-proxy:0.0.1-old",
    );
    assert!(tagged.status.success(), "{}", text(&tagged));
    let out = text(&a.dhow_ok(&["prune"]));
    assert!(out.contains("removed image dhow-proxy:0.0.1-old"), "{out}");
    let left = text(&sb.docker_exec(
        &sb.container(1),
        "docker images dhow-proxy --format '{{.Tag}}'",
    ));
    assert!(!left.contains("0.0.1-old"), "{left}");
    assert!(
        !left.trim().is_empty(),
        "the proxy's own image stays: {left}"
    );

    // `dhow remove`: the app goes; the proxy goes too unless other services still use it.
    let details = text(&a.dhow_ok(&["proxy", "details"]));
    let others = details
        .lines()
        .filter(|l| l.contains(" -> ") && !l.contains("pxa-web"))
        .count();
    let out = text(&a.dhow_ok(&["remove", "-y"]));
    for h in &hosts {
        let (status, _) = http_get(&sb.http_addr(h), "pxa.test", "/").unwrap_or((0, String::new()));
        assert_ne!(status, 200, "pxa still served on {h}");
    }
    if others > 0 {
        assert!(out.contains("proxy kept: it also routes"), "{out}");
    } else {
        assert!(out.contains("proxy removed"), "{out}");
    }
}
