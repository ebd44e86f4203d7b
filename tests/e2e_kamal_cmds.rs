//! End-to-end: the Kamal commands users look for, on the sandbox. `app logs --timestamps`
//! and `--container-id`; `build push|pull|deliver|details` (through the registry, and over
//! SSH without one; no container started); `registry login|logout` here (a private
//! DOCKER_CONFIG) and on the hosts; `app exec -e`, `--detach` and output that streams while
//! the command runs; `app stale_containers [--stop]`; `prune containers --retain|images|all`;
//! `accessory upgrade [--rolling]`.

mod support;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{config, text, Project, Sandbox};

/// `cmd` run on sandbox host `i`: its stdout, trimmed.
fn on_host(sb: &Sandbox, i: usize, cmd: &str) -> String {
    String::from_utf8_lossy(&sb.docker_exec(&sb.container(i), cmd).stdout)
        .trim()
        .to_string()
}

/// The names of the containers of `service` on host `i` (running or not).
fn containers(sb: &Sandbox, i: usize, service: &str) -> Vec<String> {
    on_host(
        sb,
        i,
        &format!("docker ps -a --filter label=dhow.service={service} --format '{{{{.Names}}}}'"),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// The repo:tag of every image on host `i`.
fn images(sb: &Sandbox, i: usize) -> String {
    on_host(sb, i, "docker images --format '{{.Repository}}:{{.Tag}}'")
}

/// Held by the tests whose hosts reach the sandbox registry: each such command forwards the
/// registry's port on the hosts, and a host's sshd lets one connection at a time hold it.
static REGISTRY_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn registry_port() -> std::sync::MutexGuard<'static, ()> {
    REGISTRY_PORT.lock().unwrap_or_else(|p| p.into_inner())
}

fn registry_toml(sb: &Sandbox) -> String {
    format!(
        "[registry]\nserver = \"{}\"\nusername = \"dhow\"\npassword = \"REGISTRY_PASSWORD\"\n",
        sb.var("SANDBOX_REGISTRY")
    )
}

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
        &sb.docker_exec(&c1, "docker ps -q --filter name=^dhow-proxy$")
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

#[test]
fn build_push_pull_and_details_through_the_registry_start_nothing() {
    let _port = registry_port();
    let sb = Sandbox::load();
    let svc = "kb";
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let p = Project::new(&config(&sb, svc, &registry_toml(&sb)));
    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));

    let t = text(&p.dhow_ok(&["build", "details"]));
    assert!(t.contains("classic"), "{t}");
    assert!(t.contains("platform:       linux/"), "{t}");
    assert!(t.contains(sb.var("SANDBOX_REGISTRY")), "{t}");
    let json = text(&p.dhow_ok(&["build", "details", "--json"]));
    assert!(json.contains(r#""event":"builder""#), "{json}");

    let out = p.dhow_ok(&["build", "push", "--version", "b1"]);
    assert!(!text(&out).contains(&password), "password in output");
    let tags = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-u", &format!("dhow:{password}")])
        .arg(format!(
            "http://{}/v2/dhow-test/{svc}/tags/list",
            sb.var("SANDBOX_REGISTRY")
        ))
        .output()
        .expect("curl");
    assert!(text(&tags).contains("b1"), "registry tags: {}", text(&tags));

    let t = text(&p.dhow_ok(&["build", "pull", "--version", "b1"]));
    assert!(t.contains("pulled from"), "{t}");
    for i in 1..=sb.hosts().len() {
        assert!(
            images(&sb, i).contains(&format!("dhow-test/{svc}:b1")),
            "{}",
            images(&sb, i)
        );
        assert!(containers(&sb, i, svc).is_empty(), "no container started");
    }
}

#[test]
fn build_deliver_without_a_registry_sends_over_ssh_and_push_refuses() {
    let sb = Sandbox::load();
    let svc = "kd";
    let p = Project::new(&config(&sb, svc, ""));
    // A sandbox used before may hold this test's deploy from an earlier run.
    let _ = p.dhow(&["remove", "-y"]);
    for i in 1..=sb.hosts().len() {
        on_host(
            &sb,
            i,
            &format!("docker rmi -f dhow-test/{svc}:d1 >/dev/null 2>&1; true"),
        );
    }
    let out = p.dhow(&["build", "push", "--version", "d1"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("build deliver"), "{}", text(&out));

    let t = text(&p.dhow_ok(&["build", "deliver", "--version", "d1"]));
    assert!(t.contains("sent over SSH"), "{t}");
    for i in 1..=sb.hosts().len() {
        assert!(images(&sb, i).contains(&format!("dhow-test/{svc}:d1")));
        assert!(containers(&sb, i, svc).is_empty(), "no container started");
    }
    // What a deploy of the delivered image then needs: nothing built or sent again.
    p.dhow_ok(&["deploy", "--skip-push", "--version", "d1"]);
    for h in sb.hosts() {
        assert_eq!(support::version_on(&sb, &h, svc), "demo d1");
    }
}

#[test]
fn registry_login_and_logout_here_and_on_the_hosts() {
    let _port = registry_port();
    let sb = Sandbox::load();
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let p = Project::new(&config(&sb, "kr", &registry_toml(&sb)));
    p.write(".dhow/secrets", &format!("REGISTRY_PASSWORD={password}\n"));
    let docker_config = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("DOCKER_CONFIG", docker_config.path())
            .output()
            .expect("dhow");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains(&password), "password in output");
        text(&out)
    };
    let host_config = "cat /root/.docker/config.json 2>/dev/null";
    let local_config =
        || std::fs::read_to_string(docker_config.path().join("config.json")).unwrap_or_default();

    let t = run(&["registry", "login"]);
    assert!(
        t.contains(&format!("local: logged in to {registry}")),
        "{t}"
    );
    assert!(local_config().contains(&registry), "{}", local_config());
    for (i, h) in sb.hosts().iter().enumerate() {
        assert!(t.contains(&format!("{h}: logged in to {registry}")), "{t}");
        assert!(on_host(&sb, i + 1, host_config).contains(&registry));
    }

    let t = run(&["registry", "logout"]);
    assert!(t.contains("logged out of"), "{t}");
    assert!(!local_config().contains(&registry), "{}", local_config());
    for i in 1..=sb.hosts().len() {
        assert!(!on_host(&sb, i, host_config).contains(&registry));
    }
    // -R: only here.
    let t = run(&["registry", "login", "-R"]);
    assert!(!t.contains(&sb.hosts()[0]), "{t}");
    assert!(local_config().contains(&registry));
}

#[test]
fn app_exec_env_detach_and_output_as_it_comes() {
    let sb = Sandbox::load();
    let svc = "ke";
    let p = Project::new(&config(&sb, svc, ""));
    p.dhow_ok(&["deploy", "--version", "e1"]);

    // -e reaches a new container and the running one (--reuse): the demo exits at once.
    for extra in [&["/x"][..], &["--reuse", "/dhow-demo"][..]] {
        let mut args = vec!["app", "exec", "-e", "CRASH_ON_START=1"];
        args.extend_from_slice(extra);
        let out = p.dhow(&args);
        assert!(!out.status.success(), "{args:?}");
        let t = text(&out);
        for h in sb.hosts() {
            assert!(
                t.contains(&format!("{h}: demo: CRASH_ON_START=1")),
                "{args:?}: {t}"
            );
        }
    }

    // A new container's first line arrives while it still runs (4 s before it exits).
    let mut child = p
        .cmd(&[
            "-h",
            &sb.hosts()[0],
            "app",
            "exec",
            "-e",
            "START_DELAY=4",
            "-e",
            "PORT=none",
            "/x",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dhow");
    let started = Instant::now();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("waiting"))
        .unwrap_or_default();
    let first_at = started.elapsed();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = child.wait();
    let done_at = started.elapsed();
    assert!(first.contains("waiting 4s before listening"), "{first}");
    assert!(rest.iter().any(|l| l.contains("cannot listen")), "{rest:?}");
    assert!(
        done_at - first_at >= Duration::from_secs(2),
        "first line at {first_at:?}, end at {done_at:?}: collected, not streamed"
    );

    // --detach: the name at once; the container is kept for `docker logs`.
    let out = p.dhow_ok(&["-h", &sb.hosts()[0], "app", "exec", "--detach", "console"]);
    let t = text(&out);
    let name = t
        .lines()
        .find_map(|l| l.split_once(": ").map(|(_, n)| n.trim().to_string()))
        .filter(|n| n.contains("-exec-"))
        .unwrap_or_else(|| panic!("no container name: {t}"));
    std::thread::sleep(Duration::from_secs(1));
    let logs = text(&sb.docker_exec(&sb.container(1), &format!("docker logs {name}")));
    assert!(logs.contains("demo console e1"), "{logs}");
    on_host(&sb, 1, &format!("docker rm -f {name}"));
    let out = p.dhow(&["app", "exec", "--detach", "--reuse", "console"]);
    assert!(!out.status.success(), "--detach with --reuse is refused");
}

#[test]
fn stale_containers_and_prune_containers_images_all() {
    let sb = Sandbox::load();
    let svc = "ks";
    let p = Project::new(&config(&sb, svc, ""));
    for v in ["s1", "s2", "s3"] {
        p.dhow_ok(&["deploy", "--version", v]);
    }
    // As an interrupted deploy would leave it: an old version running beside the current.
    let old = format!("{svc}-web-s2");
    on_host(&sb, 1, &format!("docker start {old}"));
    let t = text(&p.dhow_ok(&["app", "stale_containers"]));
    assert!(
        t.contains(&format!("stale container {old} (version s2)")),
        "{t}"
    );
    assert_eq!(t.matches("stale container").count(), 1, "{t}");
    let t = text(&p.dhow_ok(&["app", "stale_containers", "--stop"]));
    assert!(t.contains(&format!("stopped stale container {old}")), "{t}");
    let t = text(&p.dhow_ok(&["app", "stale_containers"]));
    assert!(t.contains("no stale containers"), "{t}");
    assert_eq!(support::version_on(&sb, &sb.hosts()[0], svc), "demo s3");

    // containers --retain 1: s1 goes, s2 (the newest stopped) stays; images stay.
    let t = text(&p.dhow_ok(&["prune", "containers", "--retain", "1"]));
    assert!(t.contains(&format!("removed {svc}-web-s1")), "{t}");
    for i in 1..=sb.hosts().len() {
        let names = containers(&sb, i, svc);
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(images(&sb, i).contains(&format!("dhow-test/{svc}:s1")));
    }
    // images: s1's tag is unused now; s2, s3 and latest stay.
    let t = text(&p.dhow_ok(&["prune", "images"]));
    assert!(
        t.contains(&format!("removed image dhow-test/{svc}:s1")),
        "{t}"
    );
    for i in 1..=sb.hosts().len() {
        let imgs = images(&sb, i);
        assert!(!imgs.contains(&format!("dhow-test/{svc}:s1")), "{imgs}");
        assert!(imgs.contains(&format!("dhow-test/{svc}:s2")), "{imgs}");
        assert!(imgs.contains(&format!("dhow-test/{svc}:s3")), "{imgs}");
    }
    // Plain prune is all, and finds nothing more beyond retain_containers (3).
    let t = text(&p.dhow_ok(&["prune"]));
    assert!(t.contains("no containers to prune (keeping 3)"), "{t}");
    let out = p.dhow(&["prune", "containers", "--retain", "0"]);
    assert!(!out.status.success(), "--retain 0 is refused");
    assert_eq!(support::version_on(&sb, &sb.hosts()[0], svc), "demo s3");
}

#[test]
fn accessory_upgrade_reboots_on_every_host_after_asking() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let image = "dhow-test/kacc:1";
    let extra = format!(
        "[accessories.side]\nimage = \"{image}\"\nhosts = [\"{}\", \"{}\"]\n",
        hosts[0], hosts[1]
    );
    let p = Project::new(&config(&sb, "ka", &extra));
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(p.path().join("app"))
        .output()
        .expect("docker build");
    assert!(out.status.success(), "{}", text(&out));
    let _ = p.dhow(&["accessory", "remove", "side", "-y"]);
    p.dhow_ok(&["accessory", "boot", "side"]);
    let id = |i: usize| on_host(&sb, i, "docker inspect -f '{{.Id}}' ka-side");
    let before: Vec<String> = (1..=hosts.len()).map(id).collect();

    // No terminal to ask: refused, nothing rebooted.
    let out = p.dhow(&["accessory", "upgrade", "side"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-y"), "{}", text(&out));
    assert_eq!((1..=hosts.len()).map(id).collect::<Vec<_>>(), before);

    let t = text(&p.dhow_ok(&["accessory", "upgrade", "side", "-y", "--rolling"]));
    for (i, h) in hosts.iter().enumerate() {
        assert!(t.contains(&format!("{h}: side: booted ka-side")), "{t}");
        assert_ne!(id(i + 1), before[i], "a new container on {h}");
        let state = on_host(&sb, i + 1, "docker inspect -f '{{.State.Running}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' ka-side");
        assert_eq!(state, "true dhow", "{h}");
    }
    p.dhow_ok(&["accessory", "remove", "side", "-y"]);
}
