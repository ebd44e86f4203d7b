//! Unit tests of the executor and boot against `FakeHost`: the dry run's lines and the
//! executor's journal come from the same plan value; a deploy switches only after the health
//! check; an unhealthy new container is stopped with its logs while the old keeps serving;
//! redeploy skips what it skips; rollback picks and starts the right kept version.

use super::execute::Execution;
use super::fake_host::FakeHost;
use super::host_ops::HostOps;
use super::plan::{Movement, Plan};
use super::settings::tests::sample;
use super::steps::{flatten, At, Step};
use crate::output::Output;
use crate::progress::Progress;
use crate::proxy::image::ProxyImage;
use std::collections::{BTreeMap, HashMap};

const WEB: &str = "demo-web-staging";
const WORKER: &str = "demo-worker-staging";

/// h1 runs web, h2 runs web and worker; each keeps `old` stopped and runs `current`.
fn hosts(old: &str, current: &str) -> HashMap<String, FakeHost> {
    let h1 = FakeHost::new("h1")
        .with(WEB, "web", old, false)
        .with(WEB, "web", current, true);
    let h2 = FakeHost::new("h2")
        .with(WEB, "web", old, false)
        .with(WEB, "web", current, true)
        .with(WORKER, "worker", old, false)
        .with(WORKER, "worker", current, true);
    HashMap::from([("h1".to_string(), h1), ("h2".to_string(), h2)])
}

/// Run `plan` on `hosts`; the journal of steps run and the result.
async fn execute(plan: &Plan, hosts: &HashMap<String, FakeHost>) -> (Vec<At>, anyhow::Result<()>) {
    let out = Output {
        quiet: true,
        ..Output::default()
    };
    let progress = Progress::new(out, &plan.host_names());
    let image = ProxyImage::default();
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let exec = Execution::new(plan, hosts, &progress, &image, out, cancelled);
    let (_rows, result) = exec.run().await;
    (exec.journal(), result)
}

/// Steps per (host, role), in the order they ran there.
fn by_place(steps: impl IntoIterator<Item = At>) -> BTreeMap<(String, Option<String>), Vec<Step>> {
    let mut map: BTreeMap<_, Vec<Step>> = BTreeMap::new();
    for at in steps {
        map.entry((at.host, at.role)).or_default().push(at.step);
    }
    map
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix} in {calls:?}"))
}

#[tokio::test]
async fn dry_run_lines_and_executed_steps_come_from_the_same_plan() {
    for movement in [Movement::Deploy, Movement::Redeploy, Movement::Rollback] {
        let version = if movement == Movement::Rollback {
            "v1"
        } else {
            "v3"
        };
        let plan = sample().plan(version, movement, false);
        let printed: Vec<At> = plan.lines().into_iter().flat_map(|l| l.steps).collect();
        assert_eq!(printed, flatten(&plan.steps()), "{movement:?}");
        let hosts = hosts("v1", "v2");
        let (journal, result) = execute(&plan, &hosts).await;
        result.unwrap_or_else(|e| panic!("{movement:?}: {e:#}"));
        assert_eq!(by_place(journal), by_place(printed), "{movement:?}");
    }
}

#[tokio::test]
async fn a_deploy_switches_after_the_health_check_then_stops_the_old() {
    let plan = sample().plan("v3", Movement::Deploy, false);
    let hosts = hosts("v1", "v2");
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let h2 = &hosts["h2"];
    let calls = h2.calls();
    assert!(position(&calls, "ensure_proxy") < position(&calls, "receive layers dhow/demo:v3"));
    let started = position(&calls, &format!("create_and_start {WEB}-v3"));
    let switched = position(&calls, &format!("proxy_deploy {WEB} {WEB}-v3:3000"));
    let stopped = position(&calls, &format!("stop {WEB}-v2"));
    assert!(started < switched && switched < stopped, "{calls:?}");
    assert_eq!(h2.route(WEB).as_deref(), Some("demo-web-staging-v3:3000"));
    assert!(
        position(&calls, &format!("wait_steady {WORKER}-v3"))
            < position(&calls, &format!("stop {WORKER}-v2"))
    );
    assert_eq!(h2.running(), [format!("{WEB}-v3"), format!("{WORKER}-v3")]);
    assert!(calls.contains(&"write_env web".to_string()), "{calls:?}");
}

#[tokio::test]
async fn an_unhealthy_new_container_is_stopped_with_its_logs_and_the_old_keeps_serving() {
    let plan = sample().plan("v3", Movement::Deploy, false);
    let mut hosts = hosts("v1", "v2");
    if let Some(h1) = hosts.get_mut("h1") {
        h1.unhealthy = true;
        h1.logs = "boom: DATABASE_URL is not set\n".into();
    }
    let (journal, result) = execute(&plan, &hosts).await;
    let msg = format!("{:#}", result.unwrap_err());
    assert!(
        msg.contains("h1: role web: demo-web-staging-v3 did not take over"),
        "{msg}"
    );
    assert!(msg.contains("failed its health check"), "{msg}");
    assert!(
        msg.contains("the previous container (demo-web-staging-v2) keeps serving"),
        "{msg}"
    );
    assert!(msg.contains("| boom: DATABASE_URL is not set"), "{msg}");
    let h1 = &hosts["h1"];
    assert_eq!(h1.running(), [format!("{WEB}-v2")]);
    assert_eq!(h1.route(WEB), None);
    let calls = h1.calls();
    assert!(calls.contains(&format!("stop {WEB}-v3")), "{calls:?}");
    assert!(!calls.contains(&format!("stop {WEB}-v2")), "{calls:?}");
    // The failed group stops the run: no worker boots, nothing is pruned.
    assert!(!journal.iter().any(|a| a.role.as_deref() == Some("worker")));
}

#[tokio::test]
async fn redeploy_skips_network_and_proxy_and_replaces_the_running_version() {
    let plan = sample().plan("v2", Movement::Redeploy, false);
    let hosts = hosts("v1", "v2");
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    for h in hosts.values() {
        let calls = h.calls();
        assert!(!calls.iter().any(|c| c.starts_with("ensure_")), "{calls:?}");
        assert!(
            calls.contains(&"receive layers dhow/demo:v2".to_string()),
            "{calls:?}"
        );
        let aside = position(&calls, &format!("rename {WEB}-v2 {WEB}-v2_replaced_"));
        assert!(aside < position(&calls, &format!("create_and_start {WEB}-v2")));
        assert_eq!(h.route(WEB).as_deref(), Some("demo-web-staging-v2:3000"));
    }
    assert!(!plan.describe().contains("ensure network"));
}

#[tokio::test]
async fn rollback_picks_the_previous_kept_version_and_starts_it_without_delivering() {
    let hosts = hosts("v1", "v2");
    // The inventory as `dhow versions` lists it: each host's containers per role.
    let mut inventory = Vec::new();
    for (h, role) in [("h1", "web"), ("h2", "web"), ("h2", "worker")] {
        let list = hosts[h]
            .containers("demo", Some("staging"), role)
            .await
            .unwrap();
        inventory.push((h.to_string(), role.to_string(), list));
    }
    let version = super::rollback::choose(&inventory, "h1", None).unwrap();
    assert_eq!(version, "v1");
    let plan = sample().plan(&version, Movement::Rollback, false);
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let h2 = &hosts["h2"];
    let calls = h2.calls();
    for skipped in [
        "write_env",
        "receive",
        "pull",
        "create_and_start",
        "ensure_",
    ] {
        assert!(
            !calls.iter().any(|c| c.starts_with(skipped)),
            "{skipped}: {calls:?}"
        );
    }
    assert!(
        position(&calls, &format!("start {WEB}-v1")) < position(&calls, &format!("stop {WEB}-v2"))
    );
    assert_eq!(h2.route(WEB).as_deref(), Some("demo-web-staging-v1:3000"));
    assert_eq!(h2.running(), [format!("{WEB}-v1"), format!("{WORKER}-v1")]);
}

#[tokio::test]
async fn certificate_files_are_uploaded_before_the_switch() {
    let mut settings = sample();
    settings.proxy.tls = Some(super::settings::TlsFiles {
        cert_pem: "CERT".into(),
        key_pem: secrecy::SecretString::from("KEY"),
    });
    let plan = settings.plan("v3", Movement::Deploy, false);
    let hosts = hosts("v1", "v2");
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let calls = hosts["h1"].calls();
    assert!(position(&calls, &format!("upload_tls {WEB}")) < position(&calls, "proxy_deploy"));
}

#[tokio::test]
async fn deliver_only_brings_the_image_and_starts_nothing() {
    let plan = sample().plan("v3", Movement::Deploy, false);
    let hosts = hosts("v1", "v2");
    let out = Output {
        quiet: true,
        ..Output::default()
    };
    let progress = Progress::new(out, &plan.host_names());
    let image = ProxyImage::default();
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let exec = Execution::new(&plan, &hosts, &progress, &image, out, cancelled);
    exec.deliver().await.unwrap();
    let steps: Vec<Step> = exec.journal().into_iter().map(|a| a.step).collect();
    assert_eq!(
        steps,
        [Step::Host(super::steps::HostStep::Deliver); 2],
        "{steps:?}"
    );
    for h in hosts.values() {
        let calls = h.calls();
        assert!(
            calls.contains(&"receive layers dhow/demo:v3".to_string()),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("create_and_start")),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("ensure_proxy")),
            "{calls:?}"
        );
    }
}

#[tokio::test]
async fn replicas_start_switch_and_stop_together_and_prune_keeps_whole_versions() {
    let mut settings = sample();
    settings.roles[0].replicas = 3;
    let plan = settings.plan("v3", Movement::Deploy, false);
    let hosts = hosts("v1", "v2");
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let h1 = &hosts["h1"];
    let calls = h1.calls();
    let names = [
        format!("{WEB}-v3"),
        format!("{WEB}-v3-r2"),
        format!("{WEB}-v3-r3"),
    ];
    let switched = position(
        &calls,
        &format!(
            "proxy_deploy {WEB} {0}:3000,{1}:3000,{2}:3000",
            names[0], names[1], names[2]
        ),
    );
    for n in &names {
        assert!(
            position(&calls, &format!("create_and_start {n}")) < switched,
            "{calls:?}"
        );
    }
    assert!(
        switched < position(&calls, &format!("stop {WEB}-v2")),
        "{calls:?}"
    );
    assert_eq!(h1.running(), names);
    // Back to v2: its one container; v3's three are stopped and kept as one version.
    let back = settings.plan("v2", Movement::Rollback, false);
    execute(&back, &hosts).await.1.unwrap();
    assert_eq!(h1.running(), [format!("{WEB}-v2")]);
    let (_, removed) = super::boot::prune_stopped(h1, "demo", Some("staging"), "web", 1)
        .await
        .unwrap();
    assert_eq!(removed, [format!("{WEB}-v1")]);
    // Forward again to v3 starts all three kept ones.
    let again = settings.plan("v3", Movement::Rollback, false);
    execute(&again, &hosts).await.1.unwrap();
    assert_eq!(h1.running(), names);
}

#[tokio::test]
async fn a_canary_starts_beside_what_serves_and_finish_moves_every_role_to_it() {
    let mut plan = sample().plan("v3", Movement::Deploy, false);
    plan.canary = Some(super::plan::Canary {
        percent: 20.0,
        ..Default::default()
    });
    for h in &mut plan.hosts {
        h.roles.retain(|r| r.route.is_some());
    }
    let printed: Vec<At> = plan.lines().into_iter().flat_map(|l| l.steps).collect();
    assert_eq!(printed, flatten(&plan.steps()));
    assert!(
        plan.describe().contains("20% of clients"),
        "{}",
        plan.describe()
    );
    let hosts = hosts("v1", "v2");
    let (journal, result) = execute(&plan, &hosts).await;
    result.unwrap();
    assert_eq!(by_place(journal), by_place(printed));
    let h2 = &hosts["h2"];
    let calls = h2.calls();
    assert!(
        calls.contains(&format!("proxy_canary {WEB} {WEB}-v3:3000 20%")),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("stop")), "{calls:?}");
    assert_eq!(
        h2.running(),
        [
            format!("{WEB}-v2"),
            format!("{WORKER}-v2"),
            format!("{WEB}-v3")
        ]
    );

    // Finish: web's running canary takes over, the worker starts the version.
    let plan = sample().plan("v3", Movement::Finish, true);
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let calls = h2.calls();
    let switched = position(&calls, &format!("proxy_deploy {WEB} {WEB}-v3:3000"));
    assert!(
        switched < position(&calls, &format!("stop {WEB}-v2")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("create_and_start {WORKER}-v3")),
        "{calls:?}"
    );
    assert!(
        !calls.contains(&format!("create_and_start {WEB}-v3-")),
        "{calls:?}"
    );
    let mut running = h2.running();
    running.sort();
    assert_eq!(running, [format!("{WEB}-v3"), format!("{WORKER}-v3")]);
}

#[tokio::test]
async fn with_a_bake_window_the_old_stop_after_every_verdict_or_all_go_back() {
    let mut plan = sample().plan("v3", Movement::Deploy, false);
    plan.bake = Some(super::plan::Bake {
        window: std::time::Duration::from_secs(60),
        ..Default::default()
    });
    assert!(
        plan.describe().contains("1m bake window"),
        "{}",
        plan.describe()
    );
    let hosts = hosts("v1", "v2");
    let (_, result) = execute(&plan, &hosts).await;
    result.unwrap();
    let calls = hosts["h1"].calls();
    let switched = position(&calls, &format!("proxy_deploy {WEB} {WEB}-v3:3000"));
    let judged = position(&calls, &format!("proxy_bake {WEB}"));
    assert!(switched < judged && judged < position(&calls, &format!("stop {WEB}-v2")));
    assert_eq!(hosts["h1"].running(), [format!("{WEB}-v3")]);

    let mut hosts = self::hosts("v1", "v2");
    if let Some(h1) = hosts.get_mut("h1") {
        h1.bake_fails = Some("5xx rate 30.0% (30 of 100 requests)".into());
    }
    let (_, result) = execute(&plan, &hosts).await;
    let msg = format!("{:#}", result.unwrap_err());
    assert!(
        msg.contains("failed its bake window: h1 web: rolled_back: 5xx rate 30.0%"),
        "{msg}"
    );
    for h in hosts.values() {
        let mut running = h.running();
        running.sort();
        assert!(
            running.iter().all(|c| c.ends_with("-v2")),
            "{}: {running:?}",
            h.name
        );
    }
}

#[tokio::test]
async fn a_canary_failing_its_bake_window_is_aborted_on_every_host() {
    let mut plan = sample().plan("v3", Movement::Deploy, false);
    plan.canary = Some(super::plan::Canary {
        percent: 50.0,
        ..Default::default()
    });
    plan.bake = Some(super::plan::Bake {
        window: std::time::Duration::from_secs(30),
        ..Default::default()
    });
    for h in &mut plan.hosts {
        h.roles.retain(|r| r.route.is_some());
    }
    let mut hosts = hosts("v1", "v2");
    if let Some(h2) = hosts.get_mut("h2") {
        h2.bake_fails = Some("5xx rate 33.3% (50 of 150 requests)".into());
    }
    let (_, result) = execute(&plan, &hosts).await;
    let msg = format!("{:#}", result.unwrap_err());
    assert!(
        msg.contains("canary failed its bake window: h2 web: rolled_back: 5xx"),
        "{msg}"
    );
    for h in hosts.values() {
        assert!(
            h.calls().contains(&format!("proxy_canary_abort {WEB}")),
            "{}",
            h.name
        );
        assert!(!h.running().contains(&format!("{WEB}-v3")), "{}", h.name);
        assert!(h.running().contains(&format!("{WEB}-v2")), "{}", h.name);
    }
}
