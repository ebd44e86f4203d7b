//! End-to-end: nothing lost, nothing taken by mistake. Apps whose names an older dhow joined
//! into the same string (service `shop` role `web-admin`, service `shop-web` role `admin`;
//! `lk` with `-d x` and `lk-x`) keep their own containers, routes and locks; `app start` after
//! a rollback starts the rolled-back-to version; `dhow remove` keeps a proxy it cannot ask; a
//! container name longer than a DNS label is served through its short network alias.

mod support;

use support::{config_with_servers, text, version_on, Project, Sandbox};

fn one_host(sb: &Sandbox, svc: &str, servers: &str, extra: &str) -> Project {
    let _ = sb;
    Project::new(&config_with_servers(sb, svc, servers, extra))
}

fn containers_on(sb: &Sandbox, filter: &str) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(1),
        &format!("docker ps -a --format '{{{{.Names}}}}' --filter label=dhow.service={filter}"),
    );
    let mut names: Vec<String> = text(&out).lines().map(str::to_string).collect();
    names.sort();
    names
}

#[test]
fn apps_whose_old_names_coincide_keep_their_own_containers_routes_and_locks() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let role = |r: &str| {
        format!(
            "primary_role = \"{r}\"\nservers = {{ {r} = {{ hosts = [\"{h1}\"], proxy = true }} }}"
        )
    };
    let shop = one_host(&sb, "shop", &role("web-admin"), "");
    let shop_web = one_host(&sb, "shop-web", &role("admin"), "");
    shop.dhow_ok(&["deploy", "--version", "v1"]);
    shop_web.dhow_ok(&["deploy", "--version", "v2"]);
    shop.dhow_ok(&["deploy", "--version", "v3"]);
    assert_eq!(version_on(&sb, &h1, "shop"), "demo v3");
    assert_eq!(version_on(&sb, &h1, "shop-web"), "demo v2");
    assert_eq!(containers_on(&sb, "shop-web"), vec!["shop--web-admin-v2"]);
    assert_eq!(
        containers_on(&sb, "shop"),
        vec!["shop-web--admin-v1", "shop-web--admin-v3"]
    );
    // Each app's env file is its own.
    let env = sb.docker_exec(
        &sb.container(1),
        "ls /root/.dhow/shop/env /root/.dhow/shop--web/env",
    );
    let listing = text(&env);
    assert!(
        listing.contains("web-admin.env") && listing.contains("admin.env"),
        "{listing}"
    );

    // Removing one leaves the other serving, and the proxy it uses.
    let out = shop.dhow_ok(&["remove", "-y"]);
    assert!(text(&out).contains("proxy kept"), "{}", text(&out));
    assert_eq!(containers_on(&sb, "shop"), Vec::<String>::new());
    assert_eq!(version_on(&sb, &h1, "shop-web"), "demo v2");
    shop_web.dhow_ok(&["remove", "-y"]);

    // lk with -d x and lk-x take different locks.
    let servers = format!("servers = [\"{h1}\"]");
    let lk = one_host(&sb, "lk", &servers, "");
    lk.write("config/deploy.x.toml", "");
    let lk_x = one_host(&sb, "lk-x", &servers, "");
    lk_x.dhow_ok(&["lock", "acquire", "-m", "holding lk-x"]);
    let status = lk.dhow_ok(&["-d", "x", "lock", "status"]);
    assert!(
        text(&status).contains("not locked"),
        "lk -d x must not see lk-x's lock: {}",
        text(&status)
    );
    // Commands that change what runs wait for no one: prune, app stop, accessory and proxy
    // commands exit 6 while the lock is held, naming the holder.
    for args in [&["prune"][..], &["app", "stop"], &["proxy", "reboot"]] {
        let out = lk_x.dhow(args);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("holding lk-x"), "{}", text(&out));
    }
    let status = lk_x.dhow_ok(&["lock", "status"]);
    assert!(text(&status).contains("pid "), "{}", text(&status));
    lk_x.dhow_ok(&["lock", "release"]);
}

/// A container name DNS cannot carry (a 63-byte label limit: a long service name with a full
/// git SHA and `-dirty`) is still health-checked and served: the proxy reaches it by a short
/// network alias. Deploy, then a rollback to it.
#[test]
fn a_container_name_over_63_bytes_is_served_through_its_alias() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let svc = "checkout-service";
    let p = one_host(&sb, svc, &format!("servers = [\"{h1}\"]"), "");
    let long = "71bcdd8469b967adaf6f4f56044a625fdb2edc4d-dirty";
    assert!(format!("{svc}-web-{long}").len() > 63);
    p.dhow_ok(&["deploy", "--version", long]);
    assert_eq!(version_on(&sb, &h1, svc), format!("demo {long}"));
    p.dhow_ok(&["deploy", "--version", "v2"]);
    p.dhow_ok(&["rollback", long]);
    assert_eq!(version_on(&sb, &h1, svc), format!("demo {long}"));
    p.dhow_ok(&["remove", "-y"]);
}

#[test]
fn app_start_after_a_rollback_starts_the_rolled_back_to_version() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let p = one_host(&sb, "ss", &format!("servers = [\"{h1}\"]"), "");
    p.dhow_ok(&["deploy", "--version", "v1"]);
    p.dhow_ok(&["deploy", "--version", "v2"]);
    p.dhow_ok(&["rollback", "v1"]);
    assert_eq!(version_on(&sb, &h1, "ss"), "demo v1");
    p.dhow_ok(&["app", "stop"]);
    let out = p.dhow_ok(&["app", "start"]);
    assert!(text(&out).contains("ss-web-v1"), "{}", text(&out));
    assert_eq!(version_on(&sb, &h1, "ss"), "demo v1");
    p.dhow_ok(&["remove", "-y"]);
}

#[test]
fn remove_keeps_a_proxy_whose_control_socket_does_not_answer() {
    let sb = Sandbox::load();
    // Host 2: the other tests here deploy to host 1 meanwhile, and this one takes its proxy's
    // control socket away for a while.
    let h2 = sb.hosts()[1].clone();
    let servers = format!("servers = [\"{h2}\"]");
    let ra = one_host(&sb, "ra", &servers, "");
    let rb = one_host(&sb, "rb", &servers, "");
    ra.dhow_ok(&["deploy", "--version", "v1"]);
    rb.dhow_ok(&["deploy", "--version", "v1"]);
    // The socket goes away: the proxy still serves, but cannot be asked what it routes.
    let c2 = sb.container(2);
    sb.docker_exec(&c2, "rm -f /var/run/dhow-proxy/control.sock");
    let out = ra.dhow(&["remove", "-y"]);
    let msg = text(&out);
    assert!(msg.contains("proxy kept"), "{msg}");
    assert!(msg.contains("did not answer"), "{msg}");
    let running = sb.docker_exec(&c2, "docker inspect -f '{{.State.Running}}' dhow-proxy");
    assert_eq!(text(&running).trim(), "true", "the proxy must stay");
    assert_eq!(version_on(&sb, &h2, "rb"), "demo v1");
    // Back to normal for the other tests: a restarted proxy makes its socket again.
    sb.docker_exec(&c2, "docker restart dhow-proxy >/dev/null");
    std::thread::sleep(std::time::Duration::from_secs(2));
    rb.dhow_ok(&["remove", "-y"]);
}
