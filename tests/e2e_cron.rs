//! End-to-end: a cron role on the sandbox. A role with `schedule = "* * * * *"` runs its
//! command in the deployed version's image on both hosts: a scheduled run happens (waited for
//! with a generous deadline, never timed), `dhow cron run` runs it now and exits with the
//! run's status (a failing command: its non-zero status), `dhow cron logs` shows the scheduled
//! and the manual runs with their output, a run that outlasts the minute makes the run due
//! meanwhile a skipped one (and a second `cron run` is refused), after a redeploy the runs
//! use the new version (after a rollback the old one), and `dhow remove` stops the schedule.
//!
//! The app image is the demo on the sandbox's Debian base (for `sh`), built on the local
//! engine; the job reads flag files that the test puts into the role's state directory on a
//! host (`fail`: exit 3; `slow`: sleep past the next minute).

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{config_with_servers, text, Project, Sandbox};

const SERVICE: &str = "crone2e";
const STATE: &str = "/root/.dhow/crone2e/cron/tick";

fn project(sb: &Sandbox) -> Project {
    let hosts = sb.hosts();
    let (h1, h2) = (&hosts[0], &hosts[1]);
    let servers = format!(
        r#"[servers.web]
hosts = ["{h1}"]

[servers.tick]
hosts = ["{h1}", "{h2}"]
schedule = "* * * * *"
keep_runs = 50
cmd = ["sh", "-c", "echo tick-$DHOW_VERSION-$(hostname); if [ -f /.dhow/state/slow ]; then sleep 65; fi; if [ -f /.dhow/state/fail ]; then echo failing >&2; exit 3; fi"]
"#
    );
    // `servers` tables must come last in the TOML: put the rest before them.
    let base = config_with_servers(sb, SERVICE, "", "");
    let p = Project::new(&format!("{base}\n{servers}"));
    p.write(
        "app/Dockerfile",
        "FROM dhow-sandbox-base:fresh\nARG APP_VERSION=dev\nENV APP_VERSION=${APP_VERSION} PORT=3000\n\
         COPY bin/dhow-demo /dhow-demo\nEXPOSE 3000\nENTRYPOINT [\"/dhow-demo\"]\n",
    );
    p
}

/// The JSON events of a `--json` run.
fn events(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The kept runs of the role on `host` (as `cron logs --json` reports them).
fn runs(p: &Project, host: &str) -> Vec<Value> {
    let out = p.dhow_ok(&["cron", "logs", "tick", "--host", host, "-n", "50", "--json"]);
    events(&out)
        .into_iter()
        .filter(|e| e["event"] == "cron_log")
        .collect()
}

/// Wait (generously) until `host` has a run matching `f`; the run.
fn wait_for_run(p: &Project, host: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(r) = runs(p, host).into_iter().find(|r| f(r)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} on {host} within 150 s; runs: {:#?}",
            runs(p, host)
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

fn flag(sb: &Sandbox, i: usize, name: &str, on: bool) {
    let cmd = if on {
        format!("touch {STATE}/{name}")
    } else {
        format!("rm -f {STATE}/{name}")
    };
    let out = sb.docker_exec(&sb.container(i), &cmd);
    assert!(out.status.success(), "{cmd}: {}", text(&out));
}

fn scheduled_ok(version: &str) -> impl Fn(&Value) -> bool + '_ {
    move |r: &Value| {
        r["trigger"] == "scheduled"
            && r["exit_code"] == 0
            && r["version"] == version
            && r["output"]
                .as_str()
                .is_some_and(|o| o.contains(&format!("tick-{version}-")))
    }
}

#[test]
fn a_cron_role_runs_on_schedule_once_at_a_time_and_follows_deploys() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let (h1, h2) = (hosts[0].clone(), hosts[1].clone());
    let p = project(&sb);
    let _ = p.dhow(&["remove", "-y"]);
    for i in [1, 2] {
        sb.docker_exec(&sb.container(i), &format!("rm -rf /root/.dhow/{SERVICE}"));
    }

    p.dhow_ok(&["deploy", "--version", "c1"]);
    let list = p.dhow_ok(&["cron", "list", "--json"]);
    let rows: Vec<Value> = events(&list)
        .into_iter()
        .filter(|e| e["event"] == "cron_role")
        .collect();
    assert_eq!(rows.len(), 2, "one row per host: {rows:?}");
    for r in &rows {
        assert_eq!(r["schedule"], "* * * * *");
        assert_eq!(r["version"], "c1");
        assert!(
            r["next_run"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{r}"
        );
    }

    // Now, on both hosts: output streamed per host, exit 0.
    let out = p.dhow_ok(&["cron", "run", "tick"]);
    let t = text(&out);
    assert_eq!(t.matches("tick-c1-").count(), 2, "{t}");

    // A failing command: dhow exits with the run's own status.
    flag(&sb, 1, "fail", true);
    let out = p.dhow(&["cron", "run", "tick", "-h", &h1]);
    flag(&sb, 1, "fail", false);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("failing"), "{}", text(&out));

    // A scheduled run, then logs with both kinds and their output.
    wait_for_run(&p, &h1, "scheduled run of c1", scheduled_ok("c1"));
    let kept = runs(&p, &h1);
    assert!(
        kept.iter().any(|r| r["trigger"] == "manual"
            && r["exit_code"] == 3
            && r["output"].as_str().is_some_and(|o| o.contains("failing"))),
        "{kept:#?}"
    );
    assert!(
        kept.iter()
            .any(|r| r["trigger"] == "manual" && r["exit_code"] == 0),
        "{kept:#?}"
    );
    let human = text(&p.dhow_ok(&["cron", "logs", "tick", "--host", &h1]));
    assert!(
        human.contains("scheduled") && human.contains("tick-c1-"),
        "{human}"
    );

    one_run_at_a_time(&sb, &p, &h2);
    restarted_without_doubling(&sb, &p, &h1);

    // The schedule follows a redeploy, then a rollback.
    p.dhow_ok(&["deploy", "--version", "c2"]);
    wait_for_run(&p, &h2, "scheduled run of c2", scheduled_ok("c2"));
    p.dhow_ok(&["rollback", "c1"]);
    let out = p.dhow_ok(&["cron", "run", "tick", "-h", &h2]);
    assert!(text(&out).contains("tick-c1-"), "{}", text(&out));

    for h in [&h1, &h2] {
        once_per_due_time(&runs(&p, h));
    }

    // `dhow remove` takes the schedule away: no container of the app is left to run it.
    p.dhow_ok(&["remove", "-y"]);
    for i in [1, 2] {
        let out = sb.docker_exec(
            &sb.container(i),
            &format!("docker ps -aq --filter label=dhow.service={SERVICE}"),
        );
        assert_eq!(text(&out).trim(), "", "containers left on host {i}");
    }
    let out = p.dhow(&["cron", "run", "tick", "-h", &h1]);
    assert!(!out.status.success(), "{}", text(&out));
}

/// A run that outlasts the minute: a second `cron run` is refused (75) and the scheduled run
/// due meanwhile is recorded as skipped, not started beside it.
fn one_run_at_a_time(sb: &Sandbox, p: &Project, h2: &str) {
    flag(sb, 2, "slow", true);
    let slow = p
        .cmd(&["cron", "run", "tick", "-h", h2])
        .spawn()
        .expect("spawn");
    let mut slow = support_reap::Reaped(Some(slow));
    std::thread::sleep(Duration::from_secs(5));
    let busy = p.dhow(&["cron", "run", "tick", "-h", h2]);
    assert_eq!(busy.status.code(), Some(75), "{}", text(&busy));
    assert!(text(&busy).contains("already going"), "{}", text(&busy));
    let status = slow.0.take().expect("child").wait().expect("wait");
    flag(sb, 2, "slow", false);
    assert!(status.success(), "the slow run: {status}");
    let kept = runs(p, h2);
    let long = kept
        .iter()
        .rev()
        .find(|r| r["trigger"] == "manual" && r["exit_code"] == 0)
        .expect("the slow run's record");
    let (from, to) = (
        long["started"].as_str().unwrap(),
        long["finished"].as_str().unwrap(),
    );
    let during: Vec<&Value> = kept
        .iter()
        .filter(|r| r["trigger"] == "scheduled")
        .filter(|r| r["started"].as_str().is_some_and(|s| s > from && s < to))
        .collect();
    assert!(
        !during.is_empty(),
        "a run fell due during the slow one: {kept:#?}"
    );
    for r in during {
        assert!(
            r["exit_code"].is_null() && r["note"].as_str().is_some_and(|n| n.contains("skipped")),
            "a scheduled run started beside the slow one: {r}"
        );
    }
}

/// The host's engine restarting the container (as after a reboot, by its restart policy):
/// the scheduler is back with its binary, runs again on schedule, and the runs due while it
/// was down are not made up.
fn restarted_without_doubling(sb: &Sandbox, p: &Project, h1: &str) {
    let now = "date -u +%Y-%m-%dT%H:%M:%SZ";
    let out = sb.docker_exec(
        &sb.container(1),
        &format!(
            "c=$(docker ps -q --filter label=dhow.service={SERVICE} --filter label=dhow.role=tick) \
             && docker stop $c >/dev/null && {now} && sleep 61 && {now} && docker start $c >/dev/null"
        ),
    );
    assert!(out.status.success(), "stop/start: {}", text(&out));
    let times = String::from_utf8_lossy(&out.stdout).to_string();
    let (down, up) = times.trim().split_once('\n').expect("two times");
    let out = p.dhow_ok(&["cron", "run", "tick", "-h", h1]);
    assert!(text(&out).contains("tick-c1-"), "{}", text(&out));
    // Nothing due while it was stopped ran, then or on its return (before the manual run).
    let kept = runs(p, h1);
    let manual = kept.last().expect("the manual run");
    assert_eq!(manual["trigger"], "manual", "{kept:#?}");
    let late: Vec<&Value> = kept
        .iter()
        .filter(|r| r["trigger"] == "scheduled")
        .filter(|r| {
            r["started"]
                .as_str()
                .is_some_and(|s| s > down && s < manual["started"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(
        late.is_empty(),
        "runs made up after {down}..{up}: {late:#?}"
    );
}

/// No two runs were started for one due time (scheduled runs start in their minute).
fn once_per_due_time(kept: &[Value]) {
    let mut minutes: Vec<&str> = kept
        .iter()
        .filter(|r| r["trigger"] == "scheduled" && !r["exit_code"].is_null())
        .filter_map(|r| r["started"].as_str().map(|s| &s[..16]))
        .collect();
    let n = minutes.len();
    minutes.sort();
    minutes.dedup();
    assert_eq!(minutes.len(), n, "a due time ran twice: {kept:#?}");
}

mod support_reap {
    /// Kills and reaps the child if the test fails before waiting for it.
    pub struct Reaped(pub Option<std::process::Child>);
    impl Drop for Reaped {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
