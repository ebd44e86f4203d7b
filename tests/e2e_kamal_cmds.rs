//! End-to-end: the Kamal-style `app logs` options on the sandbox: `--timestamps` puts the
//! engine's RFC 3339 time before each line, `--container-id` streams only that container
//! (by ID prefix) and refuses a container that is not the app's.

mod support;

use support::{config, text, Project, Sandbox};

#[test]
fn app_logs_timestamps_and_container_id() {
    let sb = Sandbox::load();
    let p = Project::new(&config(&sb, "kl", ""));
    p.dhow_ok(&["deploy", "--version", "k1"]);

    let plain = text(&p.dhow_ok(&["app", "logs", "-n", "5"]));
    let stamped = text(&p.dhow_ok(&["app", "logs", "-n", "5", "--timestamps"]));
    // docker's -t format: 2026-12-02T14:07:19.123456789Z before the line.
    let has_stamp = |t: &str| {
        t.lines().any(|l| {
            l.split_whitespace().any(|w| {
                w.len() > 20 && w.as_bytes()[4] == b'-' && w.contains('T') && w.ends_with('Z')
            })
        })
    };
    assert!(has_stamp(&stamped), "{stamped}");
    assert!(!has_stamp(&plain), "{plain}");

    // The running container's ID on host 1, by a 12-character prefix.
    let c1 = sb.container(1);
    let id = String::from_utf8_lossy(
        &sb.docker_exec(
            &c1,
            "docker ps -q --no-trunc --filter label=dhow.service=kl",
        )
        .stdout,
    )
    .lines()
    .next()
    .expect("a running kl container")
    .to_string();
    let out = p.dhow_ok(&["app", "logs", "-n", "5", "--container-id", &id[..12]]);
    let t = text(&out);
    assert!(!t.trim().is_empty(), "{t}");

    // Not the app's container: refused with a hint.
    let other = String::from_utf8_lossy(
        &sb.docker_exec(&c1, "docker ps -q --filter name=dhow-proxy")
            .stdout,
    )
    .trim()
    .to_string();
    if !other.is_empty() {
        let out = p.dhow(&["app", "logs", "--container-id", &other]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("not one of kl's containers"),
            "{}",
            text(&out)
        );
    }
    let out = p.dhow(&["app", "logs", "--container-id", "nosuchcontainer0"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no selected host has"),
        "{}",
        text(&out)
    );
}
