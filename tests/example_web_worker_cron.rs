//! Example 2 end to end (examples/web-worker-cron): a web role on two hosts (scheduler off), a
//! worker on one (scheduler on, ticking into PostgreSQL), two cron roles, a PostgreSQL
//! accessory, HTTPS with the project's certificate and a rate limit at the proxy.
//! - v1, then v2 with a new migration, deployed under HTTPS load on both hosts: the pre-deploy
//!   hook applies each version's migrations with the new image before anything switches;
//!   0 failed requests.
//! - v3 with a failing migration: the deploy stops at the hook, naming the file and
//!   PostgreSQL's message; no v3 container was started; v2 keeps serving under load, 0 failed.
//! - `cron run`, `cron list`, and a run the scheduler made by itself (the test sets one cron
//!   role to every minute).
//! - A client over the rate limit (from host 1's address) gets 429 with Retry-After while the
//!   load from this machine, under the limit, gets none.

mod support;

use std::time::{Duration, Instant};
use support::example::{summary, Example};
use support::load::Load;
use support::text;

const HOST: &str = "openrsvp.test";
const DEST: [&str; 2] = ["-d", "sandbox"];

/// `dhow ARGS -d sandbox`, which must succeed; its output.
fn ok(ex: &Example, args: &[&str]) -> String {
    let all: Vec<&str> = args.iter().chain(DEST.iter()).copied().collect();
    text(&ex.dhow_ok(&all))
}

/// One HTTPS GET through host i's proxy (curl, trusting only the test's CA): status and body.
fn https_get(ex: &Example, i: usize, path: &str) -> (u16, String) {
    let host = ex.host(i);
    let port = ex.sb.var("SANDBOX_HTTPS_PORT");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args([
            "--cacert",
            ex.dir().join("certs/openrsvp.pem").to_str().unwrap(),
        ])
        .args(["--resolve", &format!("{HOST}:{port}:{host}")])
        .arg(format!("https://{HOST}:{port}{path}"))
        .output()
        .expect("curl");
    let all = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = all.rsplit_once('\n').unwrap_or(("", ""));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Paced HTTPS load on both hosts (under the rate limit: 4 connections a host, 50 ms apart).
fn load(ex: &Example, ca: &str) -> Vec<Load> {
    (1..=2)
        .map(|i| {
            let addr = format!("{}:{}", ex.host(i), ex.sb.var("SANDBOX_HTTPS_PORT"));
            Load::start_tls(&addr, HOST, "/", 4, ca, Duration::from_millis(50))
        })
        .collect()
}

/// Stop the load; every request answered 2xx. Returns (ok, failed, bodies seen).
fn stop(loads: Vec<Load>) -> (u64, u64, std::collections::BTreeSet<String>) {
    let (mut ok, mut failed, mut bodies) = (0, 0, std::collections::BTreeSet::new());
    for r in loads.into_iter().map(Load::stop) {
        assert_eq!(r.failed, 0, "requests failed under load: {:?}", r.failures);
        ok += r.ok;
        failed += r.failed;
        bodies.extend(r.bodies.into_keys());
    }
    (ok, failed, bodies)
}

/// The migrations `/db` lists on host i.
fn migrations(ex: &Example, i: usize) -> String {
    let (status, body) = https_get(ex, i, "/db");
    assert_eq!(status, 200, "/db on host {i}: {body}");
    body.trim().replace('\n', ",")
}

/// The containers of `version` on host i (running or not), as `role state` lines.
fn containers(ex: &Example, i: usize, version: &str) -> String {
    let out = ex.sb.docker_exec(
        &ex.sb.container(i),
        &format!("docker ps -a --filter label=dhow.service=openrsvp --filter label=dhow.version={version} --format '{{{{.Label \"dhow.role\"}}}} {{{{.State}}}}'"),
    );
    text(&out).trim().to_string()
}

fn write_migration(ex: &Example, name: &str, sql: &str) {
    std::fs::write(ex.dir().join("app/migrations").join(name), sql).unwrap();
}

/// From host 1 (its own address, not this machine's), `n` HTTPS requests in a row to host 2's
/// proxy: how many of each status (`429 retry-after=N` with the header's value).
fn burst_from_host1(ex: &Example, n: usize, ca: &str) -> std::collections::BTreeMap<String, u64> {
    let c1 = ex.sb.container(1);
    let put = std::process::Command::new("docker")
        .args(["exec", "-i", &c1, "sh", "-c", "cat > /tmp/openrsvp-ca.pem"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(ca.as_bytes())?;
            c.wait()
        })
        .expect("copy the CA to host 1");
    assert!(put.success());
    let urls = vec![format!("https://{HOST}/"); n].join(" ");
    let out = ex.sb.docker_exec(
        &c1,
        &format!(
            "curl -s -o /dev/null -w '%{{http_code}} %header{{retry-after}}\\n' --cacert /tmp/openrsvp-ca.pem --resolve {HOST}:443:{} {urls}",
            ex.net_ip(2)
        ),
    );
    // The `-w` lines among the bodies (curl writes every body but the first to stdout).
    let mut seen = std::collections::BTreeMap::new();
    for line in text(&out).lines() {
        let mut words = line.split_whitespace();
        let Some(status) = words
            .next()
            .filter(|w| w.len() == 3 && w.parse::<u16>().is_ok())
        else {
            continue;
        };
        let retry = words
            .next()
            .map_or(String::new(), |r| format!(" retry-after={r}"));
        *seen.entry(format!("{status}{retry}")).or_insert(0) += 1;
    }
    seen
}

#[test]
fn web_worker_cron_with_migrations_https_and_a_rate_limit() {
    let started = Instant::now();
    let ex = Example::copy("web-worker-cron");
    // The project's certificate (a throwaway one for the test's name).
    let cert = rcgen::generate_simple_self_signed(vec![HOST.to_string()]).unwrap();
    let ca = cert.cert.pem();
    std::fs::create_dir_all(ex.dir().join("certs")).unwrap();
    std::fs::write(ex.dir().join("certs/openrsvp.pem"), &ca).unwrap();
    std::fs::write(
        ex.dir().join("certs/openrsvp.key"),
        cert.key_pair.serialize_pem(),
    )
    .unwrap();
    // The vacuum job every minute, so the test sees the scheduler run it by itself.
    let cfg = ex.dir().join("config/deploy.toml");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text_cfg.replace("\"30 */12 * * *\"", "\"* * * * *\"")).unwrap();

    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    ex.sb
        .docker_exec(&ex.sb.container(1), "docker volume rm -f openrsvp-pgdata");
    ok(&ex, &["accessory", "boot", "db"]);

    // v1: the hook applies the first migration with v1's image before v1 starts.
    let out = ok(&ex, &["deploy", "--version", "v1"]);
    assert!(
        out.contains("migrate: applied 001_events_rsvps.sql"),
        "{out}"
    );
    for i in [1, 2] {
        assert_eq!(https_get(&ex, i, "/"), (200, "openrsvp v1\n".into()));
        assert_eq!(migrations(&ex, i), "001_events_rsvps.sql");
        assert_eq!(https_get(&ex, i, "/env").1.trim(), "ENABLE_SCHEDULER=false");
    }
    // Plain HTTP is redirected to HTTPS.
    let (status, _) =
        support::http_get(&ex.sb.http_addr(&ex.host(1)), HOST, "/").expect("plain GET");
    assert_eq!(status, 308);

    // v2 with a new migration, under load.
    write_migration(
        &ex,
        "002_rsvp_comment.sql",
        "ALTER TABLE rsvps ADD COLUMN comment text;\n",
    );
    let loads = load(&ex, &ca);
    std::thread::sleep(Duration::from_millis(500));
    let out = ok(&ex, &["deploy", "--version", "v2"]);
    std::thread::sleep(Duration::from_millis(500));
    let (ok2, failed2, bodies) = stop(loads);
    assert!(
        out.contains("migrate: applied 002_rsvp_comment.sql"),
        "{out}"
    );
    assert!(out.contains("1 already applied"), "{out}");
    assert!(bodies.contains("openrsvp v2"), "{bodies:?}");
    for i in [1, 2] {
        assert_eq!(
            migrations(&ex, i),
            "001_events_rsvps.sql,002_rsvp_comment.sql"
        );
    }

    // v3's migration fails: the deploy stops before any v3 container starts; v2 serves.
    write_migration(
        &ex,
        "003_broken.sql",
        "ALTER TABLE no_such_table ADD COLUMN x int;\n",
    );
    let loads = load(&ex, &ca);
    std::thread::sleep(Duration::from_millis(500));
    let out = ex.dhow(&["deploy", "--version", "v3", "-d", "sandbox"]);
    std::thread::sleep(Duration::from_millis(1000));
    let (ok3, failed3, bodies) = stop(loads);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(8), "a failing hook exits 8: {said}");
    assert!(
        said.contains("pre-deploy")
            && said.contains("003_broken.sql")
            && said.contains("no_such_table"),
        "the failure names the hook, the migration and PostgreSQL's message: {said}"
    );
    assert_eq!(
        bodies.into_iter().collect::<Vec<_>>(),
        ["openrsvp v2"],
        "only v2 answered"
    );
    for i in [1, 2] {
        assert_eq!(containers(&ex, i, "v3"), "", "host {i} started v3");
        assert_eq!(https_get(&ex, i, "/"), (200, "openrsvp v2\n".into()));
        assert_eq!(
            migrations(&ex, i),
            "001_events_rsvps.sql,002_rsvp_comment.sql"
        );
    }
    std::fs::remove_file(ex.dir().join("app/migrations/003_broken.sql")).unwrap();

    // The worker runs the scheduler (and records ticks); the web role does not.
    let worker_log = ex.sb.docker_exec(
        &ex.sb.container(1),
        "docker logs $(docker ps -q --filter label=dhow.service=openrsvp --filter label=dhow.role=worker)",
    );
    let worker_log = text(&worker_log);
    assert!(
        worker_log.contains("worker v2: scheduler enabled") && worker_log.contains("worker: tick"),
        "worker log: {worker_log}"
    );

    // Cron roles: a run now, the schedule listed, and a run the scheduler made itself.
    let run = ok(&ex, &["cron", "run", "decay"]);
    assert!(run.contains("decayed 2 rsvps"), "{run}");
    let list = ok(&ex, &["cron", "list"]);
    assert!(
        list.contains("decay") && list.contains("`0 * * * *`"),
        "{list}"
    );
    assert!(list.contains("vacuum"), "{list}");

    // The rate limit: host 1 sending 600 requests at once gets 429s with Retry-After; this
    // machine's paced load on the same proxy meanwhile gets none.
    let loads = load(&ex, &ca);
    let seen = burst_from_host1(&ex, 600, &ca);
    std::thread::sleep(Duration::from_millis(300));
    let (ok4, failed4, _) = stop(loads);
    let limited: u64 = seen
        .iter()
        .filter(|(k, _)| k.starts_with("429 retry-after="))
        .map(|(_, n)| n)
        .sum();
    let passed = seen.get("200").copied().unwrap_or(0);
    assert!(limited > 0 && passed >= 200, "host 1's burst: {seen:?}");

    // The scheduler's own run of the every-minute job (within 70 s of the first deploy).
    let deadline = Instant::now() + Duration::from_secs(75);
    let scheduled = loop {
        let logs = ok(&ex, &["cron", "logs", "vacuum"]);
        if logs.contains("(scheduled, version v2): exit 0") && logs.contains("vacuumed rsvps") {
            break logs;
        }
        assert!(Instant::now() < deadline, "no scheduled vacuum run: {logs}");
        std::thread::sleep(Duration::from_secs(2));
    };
    let _ = scheduled;

    let failed = failed2 + failed3 + failed4;
    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    summary(
        "web-worker-cron",
        &format!(
            "web on 2 hosts over HTTPS, worker with the scheduler, 2 cron roles (one run by hand, one by the schedule), \
             PostgreSQL; v1 -> v2 with migrations run by the pre-deploy hook ({ok2} requests), v3's failing migration \
             stopped the deploy with v2 serving ({ok3} requests); rate limit: host 1's burst got {limited} 429s, \
             this machine's load {ok4} answered; {:.0} s",
            started.elapsed().as_secs_f64()
        ),
        Some(failed),
    );
}
