//! End-to-end: several proxied roles of one service, each on a route of its own (`proxy = {
//! host = ... }` and `proxy = { path_prefix = ..., strip_path_prefix = true }`), deployed
//! together on a sandbox host: each host name and path reaches its own role's containers,
//! and a redeploy switches each. Service `rr`, on its own so it shares no route.

mod support;

use support::{config_with_servers, http_get, Project, Sandbox};

#[test]
fn each_proxied_role_serves_its_own_route() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let role = |name: &str, proxy: &str| {
        format!("{name} = {{ hosts = [\"{h1}\"], env = {{ clear = {{ APP_NAME = \"{name}\" }} }}{proxy} }}")
    };
    let servers = format!(
        "servers = {{ {}, {}, {} }}",
        role("web", ""),
        role("admin", ", proxy = { host = \"admin.rr.test\" }"),
        role(
            "api",
            ", proxy = { path_prefix = \"/api\", strip_path_prefix = true }"
        ),
    );
    let p = Project::new(&config_with_servers(&sb, "rr", &servers, ""));
    p.dhow(&["remove", "-y"]);
    let addr = sb.http_addr(&h1);
    for v in ["a1", "a2"] {
        p.dhow_ok(&["deploy", "--version", v]);
        assert_eq!(
            http_get(&addr, "rr.test", "/").unwrap(),
            (200, format!("web {v}\n"))
        );
        assert_eq!(
            http_get(&addr, "admin.rr.test", "/").unwrap(),
            (200, format!("admin {v}\n"))
        );
        assert_eq!(
            http_get(&addr, "rr.test", "/api/").unwrap(),
            (200, format!("api {v}\n"))
        );
    }
    // The admin role's host is its own: the web role's host has no /admin of it, and the api
    // prefix is not on the admin host.
    assert_eq!(
        http_get(&addr, "admin.rr.test", "/api/").unwrap().1,
        "admin a2\n"
    );
    p.dhow(&["remove", "-y"]);
}
