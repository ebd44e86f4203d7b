//! End-to-end: the parts of the deploy pipeline a user meets beside the switch itself —
//! registry mode with the password from a secret, hooks (their environment, a failing one
//! aborting, `-H`), rollback to a version that is not there, `versions`, the audit log,
//! `--dry-run`, `--json` and maintenance. The real `dhow` binary against the sandbox; each test uses its
//! own service name so they run side by side.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use support::{config, text, version_on, Project, Sandbox};

fn write_hook(p: &Project, name: &str, body: &str) {
    let rel = format!("hooks/{name}");
    p.write(&rel, body);
    std::fs::set_permissions(p.path().join(rel), std::fs::Permissions::from_mode(0o755))
        .expect("chmod hook");
}

/// A version name no earlier run on this sandbox used (hosts keep old containers).
fn fresh_version(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}{t}")
}

/// The containers of `service` on sandbox host i (names).
fn containers(sb: &Sandbox, i: usize, service: &str) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(i),
        &format!("docker ps -a --filter label=dhow.service={service} --format '{{{{.Names}}}}'"),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn registry_mode_pushes_with_the_secret_password_and_hosts_pull() {
    let sb = Sandbox::load();
    let svc = "rg";
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let extra = format!(
        "[registry]\nserver = \"{registry}\"\nusername = \"dhow\"\npassword = \"REGISTRY_PASSWORD\"\n"
    );
    let p = Project::new(&config(&sb, svc, &extra));

    // A wrong password: a clear refusal that never shows the password.
    p.write(".dhow/secrets", "REGISTRY_PASSWORD=not-the-password-x9\n");
    let out = p.dhow(&["deploy", "--version", "r1"]);
    let t = text(&out);
    assert!(!out.status.success(), "a wrong registry password must fail");
    assert!(
        t.to_lowercase().contains("registry") || t.contains(&registry),
        "the error names the registry: {t}"
    );
    assert!(
        !t.contains("not-the-password-x9"),
        "the password never reaches the output: {t}"
    );

    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));
    let out = p.dhow_ok(&["deploy", "--version", "r1"]);
    assert!(!text(&out).contains(&password), "password in output");
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo r1");
    }
    // The image really went through the registry: it lists the tag.
    let tags = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-u",
            &format!("dhow:{password}"),
            &format!("http://{registry}/v2/dhow-test/{svc}/tags/list"),
        ])
        .output()
        .expect("curl");
    let tags = String::from_utf8_lossy(&tags.stdout);
    assert!(tags.contains("r1"), "registry tags: {tags}");
    // And the hosts hold it under the registry's name.
    let imgs = sb.docker_exec(
        &sb.container(1),
        "docker images --format '{{.Repository}}:{{.Tag}}'",
    );
    let imgs = String::from_utf8_lossy(&imgs.stdout);
    assert!(
        imgs.contains(&format!("dhow-test/{svc}:r1")),
        "images on host 1: {imgs}"
    );
}

#[test]
fn hooks_get_the_deploy_facts_a_failing_one_aborts_and_skip_hooks_skips() {
    let sb = Sandbox::load();
    let svc = "hk";
    let p = Project::new(&config(&sb, svc, ""));
    let record = p.path().join("post-deploy.out");
    write_hook(
        &p,
        "post-deploy",
        &format!(
            "#!/bin/sh\necho \"$DHOW_SERVICE|$DHOW_VERSION|$DHOW_HOSTS|$DHOW_ROLES|$DHOW_RUNTIME\" > {}\n",
            record.display()
        ),
    );
    p.dhow_ok(&["deploy", "--version", "h1"]);
    let got = std::fs::read_to_string(&record).expect("post-deploy ran");
    let fields: Vec<&str> = got.trim().split('|').collect();
    assert_eq!(fields[0], svc, "DHOW_SERVICE: {got}");
    assert_eq!(fields[1], "h1", "DHOW_VERSION: {got}");
    for h in sb.hosts() {
        assert!(fields[2].contains(&h), "DHOW_HOSTS has {h}: {got}");
    }
    assert_eq!(fields[3], "web", "DHOW_ROLES: {got}");
    assert!(!fields[4].is_empty(), "DHOW_RUNTIME set: {got}");

    write_hook(
        &p,
        "pre-deploy",
        "#!/bin/sh\necho 'migrations are pending' >&2\nexit 3\n",
    );
    let h2 = fresh_version("h");
    let out = p.dhow(&["deploy", "--version", &h2]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(8), "hook failure exit code: {t}");
    assert!(t.contains("pre-deploy"), "names the hook: {t}");
    assert!(
        t.contains("migrations are pending"),
        "shows its output: {t}"
    );
    for (i, h) in sb.hosts().iter().enumerate() {
        assert_eq!(version_on(&sb, h, svc), "demo h1");
        assert!(
            !containers(&sb, i + 1, svc)
                .iter()
                .any(|c| c.ends_with(&format!("-{h2}"))),
            "an aborted deploy starts nothing"
        );
    }
    assert!(text(&p.dhow_ok(&["lock", "status"])).contains("not locked"));

    p.dhow_ok(&["deploy", "-H", "--version", &h2]);
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), format!("demo {h2}"));
    }
}

#[test]
fn rollback_refuses_a_missing_version_and_versions_and_audit_tell_the_story() {
    let sb = Sandbox::load();
    let svc = "rb";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["deploy", "--version", "a1", "-m", "first cut"]);
    p.dhow_ok(&["deploy", "--version", "a2"]);

    let out = p.dhow(&["rollback", "zz9"]);
    let t = text(&out);
    assert!(!out.status.success(), "rollback to a missing version: {t}");
    assert!(
        t.contains("zz9") && t.contains("a1"),
        "names the version and lists the available ones: {t}"
    );
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo a2");
    }

    let v = text(&p.dhow_ok(&["versions"]));
    assert!(v.contains("a1") && v.contains("a2"), "versions: {v}");

    p.dhow_ok(&["rollback"]);
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo a1");
    }
    let audit = text(&p.dhow_ok(&["audit"]));
    assert!(
        audit.contains("a1") && audit.contains("a2") && audit.contains("rollback"),
        "audit log: {audit}"
    );
    assert!(audit.contains("first cut"), "the deploy message: {audit}");
}

#[test]
fn dry_run_prints_the_plan_and_touches_nothing_and_json_is_one_event_per_line() {
    let sb = Sandbox::load();
    let svc = "dr";
    let p = Project::new(&config(&sb, svc, ""));
    let d1 = fresh_version("d");
    let out = p.dhow_ok(&["deploy", "--dry-run", "--version", &d1]);
    let t = text(&out);
    for (i, h) in sb.hosts().iter().enumerate() {
        assert!(t.contains(h.as_str()), "the plan names {h}: {t}");
        assert!(
            !containers(&sb, i + 1, svc)
                .iter()
                .any(|c| c.ends_with(&format!("-{d1}"))),
            "a dry run starts nothing on {h}"
        );
    }
    assert!(
        t.contains(&format!("dr-web-{d1}")),
        "the plan names the container: {t}"
    );
    // The same plan as data.
    let out = p.dhow_ok(&["deploy", "--dry-run", "--json", "--version", &d1]);
    let plan: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "plan")
        .map(|e| e["plan"].clone())
        .expect("a plan event");
    assert_eq!(plan["version"], d1.as_str());
    assert_eq!(plan["movement"], "deploy");
    let hosts = plan["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), sb.hosts().len(), "{plan}");
    assert_eq!(hosts[0]["roles"][0]["container"], format!("dr-web-{d1}"));
    assert!(!hosts[0]["roles"][0]["steps"].as_array().unwrap().is_empty());

    let out = p.dhow_ok(&["deploy", "--json", "--version", &d1]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut summaries = 0;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"event\""),
            "every stdout line is one JSON event: {line}"
        );
        if line.contains("\"event\":\"summary\"") {
            summaries += 1;
            assert!(line.contains(&d1), "summary carries the version: {line}");
        }
    }
    assert_eq!(summaries, sb.hosts().len(), "one summary event per host");
    // The audit log as data: the deploy's entry with its fields.
    let out = p.dhow_ok(&["audit", "--json", "-n", "5"]);
    let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["event"] == "audit")
        .collect();
    assert!(
        entries.iter().any(|e| e["action"] == "deploy"
            && e["version"] == d1.as_str()
            && e["host"].is_string()),
        "{entries:#?}"
    );
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), format!("demo {d1}"));
    }
}

#[test]
fn maintenance_serves_a_page_while_health_passes_across_a_deploy_until_live() {
    let sb = Sandbox::load();
    let svc = "mt";
    let p = Project::new(&config(&sb, svc, ""));
    let (v1, v2) = (fresh_version("m"), fresh_version("n"));
    p.dhow_ok(&["deploy", "--version", &v1]);
    let out = p.dhow_ok(&["app", "maintenance", "--message", "Upgrading the database"]);
    assert!(text(&out).contains("in maintenance"), "{}", text(&out));
    let check_down = |why: &str| {
        for h in sb.hosts() {
            let (status, page) =
                support::http_get(&sb.http_addr(&h), &format!("{svc}.test"), "/").unwrap();
            assert_eq!(status, 503, "{why} on {h}: {page}");
            assert!(
                page.contains("Upgrading the database"),
                "{why} on {h}: {page}"
            );
            let (status, _) =
                support::http_get(&sb.http_addr(&h), &format!("{svc}.test"), "/up").unwrap();
            assert_eq!(status, 200, "{why}: health keeps passing on {h}");
        }
    };
    check_down("after app maintenance");
    // A deploy during maintenance switches the target but keeps the page up.
    p.dhow_ok(&["deploy", "--version", &v2]);
    check_down("after a deploy in maintenance");
    let out = p.dhow_ok(&["app", "live"]);
    assert!(text(&out).contains("live"), "{}", text(&out));
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), format!("demo {v2}"));
    }
}
