//! End-to-end: `--json` of the data commands on the sandbox. Each prints one typed object
//! per host (per accessory and host), no `output` text lines, and the fields hold what the
//! hosts' engines say (read here with `docker` on the host): `app details|containers|
//! version|images`, `versions`, `app stale_containers [--stop]`, `prune containers|images`,
//! `accessory details`, `details`, `lock status` and `registry login`.

mod support;

use serde_json::Value;
use support::{config, text, Project, Sandbox};

/// `cmd` run on sandbox host `i`: its stdout, trimmed.
fn on_host(sb: &Sandbox, i: usize, cmd: &str) -> String {
    String::from_utf8_lossy(&sb.docker_exec(&sb.container(i), cmd).stdout)
        .trim()
        .to_string()
}

/// Run `dhow --json ARGS` (must succeed): its objects, each stdout line one, none of them a
/// text line.
fn json(p: &Project, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = p.dhow_ok(&all);
    let objects: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
        .collect();
    for o in &objects {
        assert_ne!(o["event"], "output", "{args:?}: a text line: {o}");
    }
    objects
}

/// The objects named `kind`, one per host (checked), in the sandbox's host order (hosts that
/// work in parallel answer in any order).
fn per_host(sb: &Sandbox, all: &[Value], kind: &str) -> Vec<Value> {
    let mut found: Vec<Value> = all.iter().filter(|o| o["event"] == kind).cloned().collect();
    let at = |o: &Value| sb.hosts().iter().position(|h| o["host"] == h.as_str());
    found.sort_by_key(|o| at(o));
    let hosts: Vec<&str> = found.iter().filter_map(|o| o["host"].as_str()).collect();
    assert_eq!(hosts, sb.hosts(), "one {kind} per host: {all:#?}");
    found
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("{s}")).to_string())
        .collect()
}

#[test]
fn app_versions_stale_and_prune_data_hold_what_the_engines_have() {
    let sb = Sandbox::load();
    let svc = "jv";
    let p = Project::new(&config(&sb, svc, ""));
    for v in ["j1", "j2", "j3"] {
        p.dhow_ok(&["deploy", "--version", v]);
    }
    let running = format!("{svc}-web-j3");

    for (i, d) in per_host(&sb, &json(&p, &["app", "details"]), "app_details")
        .iter()
        .enumerate()
    {
        let web = &d["roles"][0];
        assert_eq!(web["role"], "web", "{d}");
        assert_eq!(web["version"], "j3", "{d}");
        let names = on_host(
            &sb,
            i + 1,
            &format!("docker ps --filter label=dhow.service={svc} --format '{{{{.Names}}}}'"),
        );
        assert_eq!(names, running);
        let c = &web["containers"][0];
        assert_eq!(web["containers"].as_array().unwrap().len(), 1, "{d}");
        assert_eq!(c["name"], running);
        assert_eq!(c["running"], true);
        assert_eq!(c["state"], "running");
        assert_eq!(c["version"], "j3");
        let inspect = on_host(
            &sb,
            i + 1,
            &format!("docker inspect -f '{{{{.Config.Image}}}} {{{{.Created}}}}' {running}"),
        );
        let (image, created) = inspect.split_once(' ').unwrap();
        assert_eq!(c["image"], image);
        // Docker's nanoseconds cut to the second: 2026-12-02T20:21:33Z.
        let ours = c["created"].as_str().unwrap();
        assert_eq!(ours.trim_end_matches('Z'), &created[..19], "{c}");
    }

    for (i, h) in per_host(&sb, &json(&p, &["app", "containers"]), "app_containers")
        .iter()
        .enumerate()
    {
        let list = h["roles"][0]["containers"].as_array().unwrap();
        let seen: Vec<(String, bool)> = list
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap().to_string();
                (name, c["running"].as_bool().unwrap())
            })
            .collect();
        let state = |n: &str| {
            on_host(
                &sb,
                i + 1,
                &format!("docker inspect -f '{{{{.State.Status}}}}' {n}"),
            )
        };
        for (name, is_running) in &seen {
            assert_eq!(*is_running, state(name) == "running", "{name}");
        }
        let versions: Vec<&str> = list
            .iter()
            .map(|c| c["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["j3", "j2", "j1"], "newest first: {h}");
        assert_eq!(list[1]["state"], state(&format!("{svc}-web-j2")));
    }

    for v in per_host(&sb, &json(&p, &["app", "version"]), "app_version") {
        assert_eq!(v["roles"][0]["version"], "j3", "{v}");
    }
    for v in per_host(&sb, &json(&p, &["versions"]), "versions") {
        let list = v["roles"][0]["containers"].as_array().unwrap();
        let marks: Vec<(&str, bool)> = list
            .iter()
            .map(|c| {
                (
                    c["version"].as_str().unwrap(),
                    c["running"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(marks, [("j3", true), ("j2", false), ("j1", false)], "{v}");
    }

    for (i, h) in per_host(&sb, &json(&p, &["app", "images"]), "app_images")
        .iter()
        .enumerate()
    {
        let images = h["images"].as_array().unwrap();
        let tag = format!("dhow-test/{svc}:j2");
        let j2 = images
            .iter()
            .find(|im| im["tag"] == tag.as_str())
            .unwrap_or_else(|| panic!("{tag} in {h}"));
        let size = on_host(
            &sb,
            i + 1,
            &format!("docker image inspect -f '{{{{.Size}}}}' {tag}"),
        );
        assert_eq!(j2["size_bytes"].to_string(), size, "{h}");
    }

    // Stale: none, then j2 started beside j3 on host 1, then stopped by --stop.
    for s in per_host(
        &sb,
        &json(&p, &["app", "stale_containers"]),
        "stale_containers",
    ) {
        assert_eq!(s["stale"], serde_json::json!([]), "{s}");
    }
    let old = format!("{svc}-web-j2");
    on_host(&sb, 1, &format!("docker start {old}"));
    let found = per_host(
        &sb,
        &json(&p, &["app", "stale_containers"]),
        "stale_containers",
    );
    let s = &found[0]["stale"][0];
    assert_eq!(s["container"], old.as_str(), "{found:#?}");
    assert_eq!(s["version"], "j2");
    assert_eq!(s["current"], running.as_str());
    assert_eq!(s["stopped"], false);
    assert_eq!(found[1]["stale"], serde_json::json!([]));
    let found = per_host(
        &sb,
        &json(&p, &["app", "stale_containers", "--stop"]),
        "stale_containers",
    );
    assert_eq!(found[0]["stale"][0]["stopped"], true, "{found:#?}");
    let state = on_host(
        &sb,
        1,
        &format!("docker inspect -f '{{{{.State.Running}}}}' {old}"),
    );
    assert_eq!(state, "false");

    // prune containers --retain 1: j1 goes (j2 is the newest stopped); no images part.
    let oldest = format!("{svc}-web-j1");
    for (i, pr) in per_host(
        &sb,
        &json(&p, &["prune", "containers", "--retain", "1"]),
        "pruned",
    )
    .iter()
    .enumerate()
    {
        assert!(pr.get("images").is_none(), "{pr}");
        let web = &pr["containers"][0];
        assert_eq!(web["role"], "web");
        assert_eq!(web["retain"], 1);
        assert_eq!(strings(&web["removed"]), vec![oldest.as_str()], "{pr}");
        let left = on_host(
            &sb,
            i + 1,
            &format!("docker ps -a -q --filter name=^{oldest}$"),
        );
        assert_eq!(left, "", "{oldest} is gone");
    }
    // prune images: j1's tag is unused now; the tags it names are gone from the host.
    for (i, pr) in per_host(&sb, &json(&p, &["prune", "images"]), "pruned")
        .iter()
        .enumerate()
    {
        assert!(pr.get("containers").is_none(), "{pr}");
        let removed = strings(&pr["images"]);
        let tag = format!("dhow-test/{svc}:j1");
        assert!(removed.contains(&tag), "{pr}");
        assert!(pr["untagged_bytes"].is_i64(), "{pr}");
        let tags = on_host(
            &sb,
            i + 1,
            "docker images --format '{{.Repository}}:{{.Tag}}'",
        );
        for t in &removed {
            assert!(!tags.lines().any(|l| l == t), "{t} still there: {tags}");
        }
    }
    // The human output is as before.
    let t = text(&p.dhow_ok(&["app", "details"]));
    let host = &sb.hosts()[0];
    assert!(t.contains(&format!("{host}: web: {running} (")), "{t}");
    let t = text(&p.dhow_ok(&["versions"]));
    assert!(t.contains("  * j3  (running)"), "{t}");
}

#[test]
fn accessory_details_lock_and_registry_data() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let image = "dhow-test/jacc:1";
    let extra = format!(
        "[accessories.side]\nimage = \"{image}\"\nhosts = [\"{}\", \"{}\"]\nport = \"15099:3000\"\n\
         volumes = [\"jacc-data:/data\"]\n",
        hosts[0], hosts[1]
    );
    let p = Project::new(&config(&sb, "ja", &extra));
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(p.path().join("app"))
        .output()
        .expect("docker build");
    assert!(out.status.success(), "{}", text(&out));
    let _ = p.dhow(&["accessory", "remove", "side", "-y"]);

    for a in per_host(
        &sb,
        &json(&p, &["accessory", "details", "side"]),
        "accessory",
    ) {
        assert_eq!(a["booted"], false, "{a}");
        assert_eq!(a["state"], Value::Null, "{a}");
    }
    p.dhow_ok(&["accessory", "boot", "side"]);
    on_host(&sb, 2, "docker stop -t 1 ja-side");
    let found = per_host(
        &sb,
        &json(&p, &["accessory", "details", "side"]),
        "accessory",
    );
    for (i, a) in found.iter().enumerate() {
        assert_eq!(a["accessory"], "side");
        assert_eq!(a["container"], "ja-side");
        assert_eq!(a["booted"], true, "{a}");
        let (running, status, on) = {
            let s = on_host(
                &sb,
                i + 1,
                "docker inspect -f '{{.State.Running}} {{.State.Status}} {{.Config.Image}}' ja-side",
            );
            let w: Vec<String> = s.split(' ').map(str::to_string).collect();
            (w[0] == "true", w[1].clone(), w[2].clone())
        };
        assert_eq!(a["running"], running, "{a}");
        assert_eq!(a["state"], status.as_str(), "{a}");
        assert_eq!(a["image"], on.as_str(), "{a}");
        assert_eq!(a["config_image"], image);
        assert_eq!(a["port"]["host_port"], 15099, "{a}");
        assert_eq!(a["port"]["container_port"], 3000, "{a}");
        assert_eq!(a["port"]["ip"], "127.0.0.1", "{a}");
        let mounts = a["mounts"].as_array().unwrap();
        assert!(
            mounts.iter().any(|m| m["type"] == "volume"
                && m["source"] == "jacc-data"
                && m["destination"] == "/data"),
            "{a}"
        );
    }
    assert_eq!(found[0]["running"], true);
    assert_eq!(found[1]["running"], false, "stopped on host 2");

    // `details`: the accessory among each host's containers, its name a field.
    on_host(&sb, 2, "docker start ja-side");
    // The human lines are as before.
    let t = text(&p.dhow_ok(&["accessory", "details", "side"]));
    for line in [
        format!("{}: side: ja-side running ({image})", hosts[0]),
        format!("{}: side:   port 127.0.0.1:15099 -> 3000/tcp", hosts[0]),
        format!("{}: side:   mount jacc-data -> /data", hosts[1]),
    ] {
        assert!(t.lines().any(|l| l == line), "{line:?} in:\n{t}");
    }
    for d in per_host(&sb, &json(&p, &["details"]), "details") {
        let listed = d["containers"].as_array().unwrap();
        let side = listed
            .iter()
            .find(|c| c["name"] == "ja-side")
            .unwrap_or_else(|| panic!("ja-side in {d}"));
        assert_eq!(side["accessory"], "side", "{d}");
        assert_eq!(side["image"], image);
        assert!(d["docker_version"].as_str().unwrap().contains('.'), "{d}");
    }
    p.dhow_ok(&["accessory", "remove", "side", "-y"]);

    // lock status: the key and the primary host; the holder's message once acquired.
    let all = json(&p, &["lock", "status"]);
    let l = all.iter().find(|o| o["event"] == "lock").unwrap();
    assert_eq!(l["locked"], false, "{l}");
    assert_eq!(l["host"], hosts[0].as_str());
    assert!(l["key"].as_str().unwrap().contains("ja"), "{l}");
    p.dhow_ok(&["lock", "acquire", "-m", "json test"]);
    let all = json(&p, &["lock", "status"]);
    p.dhow_ok(&["lock", "release"]);
    let l = all.iter().find(|o| o["event"] == "lock").unwrap();
    assert_eq!(l["locked"], true, "{l}");
    assert_eq!(l["holder"]["message"], "json test", "{l}");

    // registry login: one object here and one per host, no text lines.
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let reg = format!(
        "[registry]\nserver = \"{registry}\"\nusername = \"dhow\"\npassword = \"REGISTRY_PASSWORD\"\n"
    );
    let p = Project::new(&config(&sb, "jr", &reg));
    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));
    let docker_config = tempfile::tempdir().unwrap();
    let out = p
        .cmd(&["--json", "registry", "login"])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&password), "password in output");
    let objects: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logins: Vec<&str> = objects
        .iter()
        .map(|o| {
            assert_eq!(o["event"], "registry", "{o}");
            assert_eq!(o["server"], registry.as_str());
            assert_eq!(o["login"], true);
            o["host"].as_str().unwrap()
        })
        .collect();
    let mut expected = vec!["local".to_string()];
    expected.extend(hosts.iter().cloned());
    assert_eq!(logins, expected);
    let out = p
        .cmd(&["registry", "logout"])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
