//! End-to-end: the real `dhow` binary deploys the demo app to the sandbox's hosts through
//! real SSH, real Docker engines and dhow-proxy, while a real HTTP load runs through the
//! proxies; a tagged host gets its tags' env. Each test uses its own service and proxy host name so they can run side by side.

mod support;

use std::time::Duration;
use support::load::Load;
use support::{config, config_with_servers, text, version_on, Project, Sandbox};

#[test]
fn deploys_and_rolls_back_under_load_without_a_failed_request() {
    let sb = Sandbox::load();
    let svc = "zd";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["deploy", "--version", "v1"]);
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo v1");
    }
    let per_host = 64 / sb.hosts().len();
    let loads: Vec<Load> = sb
        .hosts()
        .iter()
        .map(|h| Load::start(&sb.http_addr(h), &format!("{svc}.test"), "/", per_host))
        .collect();
    for i in 0..10 {
        let v = if i % 2 == 0 { "v2" } else { "v3" };
        p.dhow_ok(&["deploy", "--version", v]);
        for h in sb.hosts() {
            assert_eq!(version_on(&sb, &h, svc), format!("demo {v}"));
        }
    }
    for _ in 0..3 {
        let before = version_on(&sb, &sb.hosts()[0], svc);
        p.dhow_ok(&["rollback"]);
        let after = version_on(&sb, &sb.hosts()[0], svc);
        assert_ne!(before, after, "rollback must switch the served version");
    }
    std::thread::sleep(Duration::from_millis(300));
    let reports: Vec<_> = loads.into_iter().map(Load::stop).collect();
    for r in &reports {
        assert_eq!(
            r.failed, 0,
            "failed requests during deploys: {:?}",
            r.failures
        );
        assert!(r.ok > 100, "load generator barely ran: {r:?}");
        assert!(
            r.bodies.contains_key("demo v2") && r.bodies.contains_key("demo v3"),
            "versions seen: {:?}",
            r.bodies
        );
    }
}

#[test]
fn unhealthy_version_fails_and_the_old_one_keeps_serving() {
    let sb = Sandbox::load();
    let svc = "hf";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["deploy", "--version", "v1"]);
    p.write(
        "config/deploy.toml",
        &config(&sb, svc, "[env.clear]\nDEMO_HEALTHY = \"false\"\n")
            .replace("deploy_timeout = \"20s\"", "deploy_timeout = \"4s\""),
    );
    let out = p.dhow(&["deploy", "--version", "v2"]);
    let msg = text(&out);
    assert_eq!(
        out.status.code(),
        Some(7),
        "exit code for a failed deploy:\n{msg}"
    );
    assert!(msg.contains("v2"), "{msg}");
    assert!(
        msg.contains("keeps serving"),
        "message must say the old version keeps serving:\n{msg}"
    );
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo v1");
    }
    let status = p.dhow_ok(&["lock", "status"]);
    assert!(
        text(&status).contains("not locked"),
        "lock must be released: {}",
        text(&status)
    );
}

#[test]
fn a_held_lock_refuses_a_second_deploy() {
    let sb = Sandbox::load();
    let svc = "lk";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["lock", "acquire", "-m", "maintenance by the test"]);
    let out = p.dhow(&["deploy", "--version", "v1"]);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(6), "{msg}");
    assert!(msg.contains("maintenance by the test"), "{msg}");
    p.dhow_ok(&["lock", "release"]);
    p.dhow_ok(&["deploy", "--version", "v1"]);
    assert_eq!(version_on(&sb, &sb.hosts()[0], svc), "demo v1");
}

#[test]
fn ctrl_c_mid_deploy_leaves_no_lock_and_the_old_version_serving() {
    let sb = Sandbox::load();
    let svc = "cc";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["deploy", "--version", "v1"]);
    p.write(
        "config/deploy.toml",
        &config(&sb, svc, "[env.clear]\nSTART_DELAY = \"4\"\n"),
    );
    let mut child = p
        .cmd(&["deploy", "--version", "v2"])
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "an interrupted deploy must not report success"
    );
    for h in sb.hosts() {
        assert_eq!(version_on(&sb, &h, svc), "demo v1");
    }
    assert!(text(&p.dhow_ok(&["lock", "status"])).contains("not locked"));
}

#[test]
fn a_worker_role_runs_its_cmd_and_is_not_routed() {
    let sb = Sandbox::load();
    let svc = "wk";
    let hosts = sb.hosts();
    let servers = format!(
        "servers.web = [\"{}\"]\nservers.worker = {{ hosts = [\"{}\"], cmd = [\"/dhow-demo\"], proxy = false, env = {{ clear = {{ PORT = \"4000\" }} }} }}",
        hosts[0], hosts[1]
    );
    let cfg = config_with_servers(&sb, svc, &servers, "");
    let p = Project::new(&cfg);
    p.dhow_ok(&["deploy", "--version", "v1"]);
    let ps = sb.docker_exec(
        &sb.container(2),
        "docker ps --format '{{.Names}} {{.Command}}'",
    );
    let ps = String::from_utf8_lossy(&ps.stdout).to_string();
    assert!(
        ps.contains("wk-worker-v1"),
        "worker container on host 2: {ps}"
    );
    // Other deployments may share this proxy (even a catch-all one), so ask the proxy
    // itself which services it routes: the worker must not be one of them.
    let list = sb.docker_exec(&sb.container(2), "docker exec dhow-proxy /dhow-proxy list");
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        list.contains("\"services\""),
        "dhow-proxy list on host 2: {list}"
    );
    assert!(
        !list.contains("wk-"),
        "the worker must not be routed through the proxy: {list}"
    );
    assert_eq!(version_on(&sb, &hosts[0], svc), "demo v1");
}

#[test]
fn a_tagged_host_gets_its_tags_env_and_the_other_host_does_not() {
    let sb = Sandbox::load();
    let svc = "tg";
    let hosts = sb.hosts();
    let servers = format!(
        "[servers.web]\nhosts = [\"{}\", {{ host = \"{}\", tags = [\"eu\", \"exp\"] }}]",
        hosts[0], hosts[1]
    );
    let extra = "[env]\nclear = { REGION = \"default\", SHARED = \"app\" }\n\
                 [env.tags.eu]\nclear = { REGION = \"eu\" }\nsecret = [\"EU_TOKEN\"]\n\
                 [env.tags.exp]\nclear = { REGION = \"exp\", EXPERIMENT = \"on\" }\n\
                 [accessories.cache]\nimage = \"dhow-test/tg:v1\"\ntags = [\"eu\"]\n";
    // `servers` must come before the first table: move it below the top-level keys.
    let cfg = config_with_servers(&sb, svc, "", extra).replacen(
        "[builder]",
        &format!("{servers}\n\n[builder]"),
        1,
    );
    let p = Project::new(&cfg);
    p.write(".dhow/secrets", "EU_TOKEN=eu-token-value\n");
    let plan = text(&p.dhow_ok(&["deploy", "--dry-run", "--version", "v1"]));
    assert!(
        plan.contains("    tags: eu, exp\n    env: EXPERIMENT (tag exp), REGION (tag exp), SHARED, EU_TOKEN (secret, tag eu)\n"),
        "{plan}"
    );
    assert!(plan.contains("    env: REGION, SHARED\n"), "{plan}");
    p.dhow_ok(&["deploy", "--version", "v1"]);
    let env_on = |i: usize| -> Vec<String> {
        let out = sb.docker_exec(
            &sb.container(i),
            "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' tg-web-v1",
        );
        assert!(out.status.success(), "docker inspect: {}", text(&out));
        let mut vars: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                ["REGION=", "SHARED=", "EXPERIMENT=", "EU_TOKEN="]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect();
        vars.sort();
        vars
    };
    assert_eq!(env_on(1), ["REGION=default", "SHARED=app"]);
    // exp is after eu on the host: its REGION wins.
    assert_eq!(
        env_on(2),
        [
            "EU_TOKEN=eu-token-value",
            "EXPERIMENT=on",
            "REGION=exp",
            "SHARED=app"
        ]
    );
    // The env file each host keeps for the role is that host's own.
    let file = |i: usize| {
        let out = sb.docker_exec(&sb.container(i), "cat ~/.dhow/tg/env/web.env");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(!file(1).contains("EU_TOKEN"), "{}", file(1));
    assert!(file(2).contains("EU_TOKEN=eu-token-value\n"), "{}", file(2));
    for h in &hosts[..2] {
        assert_eq!(version_on(&sb, h, svc), "demo v1");
    }
    // -h picks a host written in the table form (the lock stays on the primary host).
    p.dhow_ok(&["deploy", "--version", "v2", "-h", &hosts[1]]);
    assert_eq!(version_on(&sb, &hosts[1], svc), "demo v2");
    assert_eq!(version_on(&sb, &hosts[0], svc), "demo v1");
    // An accessory with `tags` runs on the hosts carrying one: host 2 only.
    p.dhow_ok(&["accessory", "boot", "cache"]);
    let running = |i: usize| {
        let out = sb.docker_exec(&sb.container(i), "docker ps --format '{{.Names}}'");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "tg-cache")
    };
    assert!(running(2) && !running(1));
    p.dhow_ok(&["accessory", "remove", "cache", "-y"]);
    assert!(!running(2));
}
