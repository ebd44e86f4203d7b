//! End-to-end: accessories on the sandbox. A PostgreSQL accessory (an image built here from
//! Debian's postgresql package, sent to the host over SSH) with a secret password, an init
//! script and a rendered template uploaded as files, a data volume and a directory; the demo
//! app reads from it over the app network. Data written survives `accessory reboot`, `stop` /
//! `start`, and even `remove` + `boot` (volumes are kept). A second accessory on the other host
//! comes from the sandbox's registry with the registry login.

mod support;

use std::process::Command;
use support::{config_with_servers, http_get, text, Project, Sandbox};

const PG_IMAGE: &str = "dhow-sandbox-postgres:15";

/// The uid:gid of `postgres` in the PostgreSQL image (files it reads are given to it).
fn postgres_owner() -> String {
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            PG_IMAGE,
            "-c",
            "echo $(id -u postgres):$(id -g postgres)",
        ])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{PG_IMAGE} missing? run `make sandbox-postgres`: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Push the demo image to the sandbox registry as `name` (a throwaway docker login).
fn push_to_registry(sb: &Sandbox, name: &str) {
    let cfg = tempfile::tempdir().unwrap();
    let docker = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", cfg.path()).args(args);
        if let Some(s) = stdin {
            use std::io::Write;
            let mut child = c
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        } else {
            c.output().unwrap()
        }
    };
    let registry = sb.var("SANDBOX_REGISTRY");
    let out = docker(
        &[
            "login",
            registry,
            "-u",
            sb.var("SANDBOX_REGISTRY_USER"),
            "--password-stdin",
        ],
        Some(sb.var("SANDBOX_REGISTRY_PASSWORD")),
    );
    assert!(out.status.success(), "docker login: {}", text(&out));
    for args in [
        vec!["tag", "dhow/demo:dev", name],
        vec!["push", name],
        vec!["rmi", name],
    ] {
        let out = docker(&args, None);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
    }
}

fn db_rows(sb: &Sandbox, host: &str) -> (u16, String) {
    http_get(&sb.http_addr(host), "acc.test", "/db").expect("GET /db")
}

#[test]
fn postgres_accessory_lifecycle_keeps_data_and_the_app_reads_it() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let (h1, h2) = (hosts[0].clone(), hosts[1].clone());
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let cache_image = format!("{registry}/dhow-test/acc-cache:1");
    push_to_registry(&sb, &cache_image);
    let owner = postgres_owner();
    let password = "pw-7f3a9c1e5b";
    let extra = format!(
        r#"
[env.clear]
DATABASE_HOST = "acc-db"
DATABASE_USER = "app"
DATABASE_NAME = "notes"

[env]
secret = ["DATABASE_PASSWORD:DB_PASSWORD"]

[registry]
server = "{registry}"
username = "dhow"
password = "REGISTRY_PASSWORD"

[accessories.db]
image = "{PG_IMAGE}"
host = "{h1}"
port = "15432:5432"
volumes = ["acc-pgdata:/var/lib/postgresql/data"]
directories = ["backups:/backups"]
env = {{ clear = {{ POSTGRES_USER = "app", POSTGRES_DB = "notes" }}, secret = ["POSTGRES_PASSWORD:DB_PASSWORD"] }}

[accessories.db.files]
"db/init.sql" = "/docker-entrypoint-initdb.d/1-init.sql"
"db/greeting.sql" = {{ path = "/docker-entrypoint-initdb.d/2-greeting.sql", mode = "0600", owner = "{owner}", template = true }}

[accessories.cache]
image = "{cache_image}"
host = "{h2}"
port = "16000:3000"
env = {{ clear = {{ DHOW_VERSION = "cache" }} }}
"#
    );
    let p = Project::new(&config_with_servers(
        &sb,
        "acc",
        &format!("servers = [\"{h1}\"]"),
        &extra,
    ));
    p.write(
        ".dhow/secrets",
        &format!(
            "DB_PASSWORD={password}\nREGISTRY_PASSWORD={}\n",
            sb.var("SANDBOX_REGISTRY_PASSWORD")
        ),
    );
    p.write(
        "db/init.sql",
        "CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL);\n\
         INSERT INTO notes (note) VALUES ('first note');\n",
    );
    p.write(
        "db/greeting.sql",
        "INSERT INTO notes (note) VALUES ('hello ${POSTGRES_USER} ' || length('${POSTGRES_PASSWORD}'));\n",
    );
    let (c1, c2) = (sb.container(1), sb.container(2));
    let cleanup = || {
        let _ = p.dhow(&["accessory", "remove", "all", "-y"]);
        let _ = p.dhow(&["app", "remove", "-y"]);
        let _ = sb.docker_exec(&c1, "docker volume rm acc-pgdata");
    };
    cleanup();

    // An unknown name lists the real ones.
    let out = p.dhow(&["accessory", "boot", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cache, db"), "{}", text(&out));

    // Boot both: db sent over SSH from this machine, cache pulled from the registry.
    let out = p.dhow_ok(&["accessory", "boot", "all"]);
    let t = text(&out);
    assert!(
        t.contains("booted acc-db") && t.contains("sent over SSH"),
        "{t}"
    );
    assert!(
        t.contains("booted acc-cache") && t.contains("image pulled"),
        "{t}"
    );
    assert!(t.contains("127.0.0.1:15432 -> 5432/tcp"), "{t}");
    assert!(!t.contains(password), "the secret leaked into output: {t}");
    let out = p.dhow_ok(&["accessory", "boot", "db"]);
    assert!(text(&out).contains("already running"), "{}", text(&out));

    // Published on the host's loopback only.
    let port = sb.docker_exec(&c1, "docker port acc-db 5432/tcp");
    assert_eq!(text(&port).trim(), "127.0.0.1:15432", "{}", text(&port));
    // The template was rendered with the env, private to the container's postgres user.
    let f = sb.docker_exec(
        &c1,
        "stat -c '%a %u:%g' /root/.dhow/acc/accessories/db/files/docker-entrypoint-initdb.d/2-greeting.sql",
    );
    assert_eq!(text(&f).trim(), format!("600 {owner}"), "{}", text(&f));
    assert!(sb
        .docker_exec(&c1, "test -d /root/.dhow/acc/accessories/db/backups")
        .status
        .success());
    // The second accessory answers on its host's loopback.
    let cache = sb.docker_exec(
        &c2,
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/16000; printf \"GET / HTTP/1.0\\r\\nConnection: close\\r\\n\\r\\n\" >&3; cat <&3'",
    );
    assert!(text(&cache).contains("demo cache"), "{}", text(&cache));

    // The app reads the database over the app network.
    p.dhow_ok(&["deploy", "--version", "a1"]);
    let (status, body) = db_rows(&sb, &h1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("first note\nhello app {}\n", password.len()),
        "init script and template ran"
    );

    // Write through `accessory exec`, then reboot: the data is still there.
    p.dhow_ok(&[
        "accessory",
        "exec",
        "db",
        "psql",
        "-U",
        "app",
        "-d",
        "notes",
        "-c",
        "INSERT INTO notes (note) VALUES ('kept')",
    ]);
    // Interactive: a psql session fed from stdin.
    let mut child = p
        .cmd(&[
            "accessory",
            "exec",
            "-i",
            "db",
            "psql",
            "-U",
            "app",
            "-d",
            "notes",
            "-tA",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dhow");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"SELECT count(*) FROM notes;\n\\q\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");

    let out = p.dhow_ok(&["accessory", "reboot", "db"]);
    assert!(text(&out).contains("booted acc-db"), "{}", text(&out));
    let (status, body) = db_rows(&sb, &h1);
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("kept\n"), "after reboot: {body}");

    // Stop: the app sees the database gone; start: back, same data.
    p.dhow_ok(&["accessory", "stop", "db"]);
    assert_eq!(db_rows(&sb, &h1).0, 503);
    p.dhow_ok(&["accessory", "start", "db"]);
    assert!(db_rows(&sb, &h1).1.ends_with("kept\n"));

    // Details and logs.
    let out = p.dhow_ok(&["accessory", "details", "all"]);
    let t = text(&out);
    assert!(
        t.contains("acc-db running") && t.contains("acc-pgdata"),
        "{t}"
    );
    assert!(t.contains("acc-cache running"), "{t}");
    let out = p.dhow_ok(&["details"]);
    assert!(text(&out).contains("acc (accessory db)"), "{}", text(&out));
    let out = p.dhow_ok(&["accessory", "logs", "db", "-n", "50"]);
    assert!(
        text(&out).contains("ready to accept connections"),
        "{}",
        text(&out)
    );

    // Remove asks first; with -y it goes, the data volume stays and is named.
    let out = p.dhow(&["accessory", "remove", "db"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-y"), "{}", text(&out));
    let out = p.dhow_ok(&["accessory", "remove", "db", "-y"]);
    let t = text(&out);
    assert!(t.contains("kept volume acc-pgdata"), "{t}");
    assert!(!sb
        .docker_exec(&c1, "docker inspect acc-db >/dev/null 2>&1")
        .status
        .success());
    assert!(sb
        .docker_exec(&c1, "docker volume inspect acc-pgdata >/dev/null")
        .status
        .success());
    assert!(!sb
        .docker_exec(&c1, "test -e /root/.dhow/acc/accessories/db/files")
        .status
        .success());

    // Booted again on the kept volume: the data is all there (init scripts do not run twice).
    p.dhow_ok(&["accessory", "boot", "db"]);
    let (status, body) = db_rows(&sb, &h1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("first note\nhello app {}\nkept\n", password.len())
    );

    // `dhow remove` takes the app and both accessories, keeping the data volume.
    let out = p.dhow_ok(&["remove", "-y"]);
    assert!(
        text(&out).contains("kept volume acc-pgdata"),
        "{}",
        text(&out)
    );
    for (c, name) in [(&c1, "acc-db"), (&c2, "acc-cache")] {
        assert!(
            !sb.docker_exec(c, &format!("docker inspect {name} >/dev/null 2>&1"))
                .status
                .success(),
            "{name} survived dhow remove"
        );
    }
    cleanup();
}
