//! Validation as a whole: a config with a problem in every section gets every error, each at
//! its file, line and column with its key path, in section order (the order users saw before
//! the checks were split per section).

use super::validate;
use crate::config::locate::Located;
use crate::config::schema::Config;
use std::collections::BTreeMap;

fn errors(text: &str) -> Vec<String> {
    let c: Config = toml::from_str(text).expect("parses");
    let files = [Located::new("config/deploy.toml", text)];
    validate(&c, None, &files, &BTreeMap::new())
        .expect_err("invalid")
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_section_reports_in_order() {
    let text = r#"service = "my app"
image = "a b"
primary_role = "db"
require_destination = true
servers = { web = [], "bad role" = ["h1"] }

[registry]
password = "REG_PW"

[proxy]
app_port = 0
path_prefix = "api"
ssl = true
hosts = ["*.example.com", "10.0.0.1"]
acme_email = "a@b.c"
healthcheck = { path = "up" }

[builder]
secrets = ["bad-name"]

[env]
secret = ["TOKEN"]

[accessories.db]
port = "x"
roles = ["nope"]
directories = ["data"]
files = { "init.sql" = { path = "rel", mode = "999", owner = "root" } }
"#;
    let expected = [
        r#"config/deploy.toml:1:11: service: bad service name "my app": use letters, digits, - and _"#,
        r#"config/deploy.toml:2:9: image: bad image name "a b""#,
        r#"config/deploy.toml:5:36: servers.bad role: bad role name "bad role": use letters, digits, - and _"#,
        r#"config/deploy.toml:5:19: servers.web: role web has no hosts: add hosts = ["..."]"#,
        r#"config/deploy.toml:3:16: primary_role: primary role "db" is not a role in servers (roles: bad role, web)"#,
        r#"config/deploy.toml:4:23: require_destination: this config requires a destination: pass -d DESTINATION"#,
        r#"config/deploy.toml:7:1: registry: registry.server is required when [registry] is set (e.g. "ghcr.io")"#,
        r#"config/deploy.toml:7:1: registry: registry.username is required when [registry] is set"#,
        r#"config/deploy.toml:11:12: proxy.app_port: app_port must be 1-65535"#,
        r#"config/deploy.toml:12:15: proxy.path_prefix: path_prefix "api" must start with /"#,
        r#"config/deploy.toml:13:7: proxy.ssl: *.example.com: automatic certificates (ACME HTTP-01) need exact DNS names; for wildcards or IP addresses give ssl_certificate and ssl_private_key"#,
        r#"config/deploy.toml:13:7: proxy.ssl: 10.0.0.1: automatic certificates (ACME HTTP-01) need exact DNS names; for wildcards or IP addresses give ssl_certificate and ssl_private_key"#,
        r#"config/deploy.toml:16:24: proxy.healthcheck.path: health check path "up" must start with /"#,
        r#"config/deploy.toml:24:1: accessories.db: accessory db needs an image"#,
        r#"config/deploy.toml:26:9: accessories.db.roles: role "nope" is not a role in servers"#,
        r#"config/deploy.toml:25:8: accessories.db.port: bad port "x": expected PORT, HOSTPORT:PORT or ADDRESS:HOSTPORT:PORT (optionally /udp)"#,
        r#"config/deploy.toml:27:15: accessories.db.directories: bad directory "data": expected HOST_DIR:/path/in/container"#,
        r#"config/deploy.toml:28:9: accessories.db.files: init.sql: the path in the container must be absolute, got "rel""#,
        r#"config/deploy.toml:28:9: accessories.db.files: init.sql: mode must be octal like "0640""#,
        r#"config/deploy.toml:28:9: accessories.db.files: init.sql: owner must be numeric UID or UID:GID as the container sees it"#,
        r#"config/deploy.toml:22:11: env.secret[0]: secret TOKEN is referenced but not defined in .dhow/secrets-common, .dhow/secrets"#,
        r#"config/deploy.toml:8:12: registry.password: secret REG_PW is referenced but not defined in .dhow/secrets-common, .dhow/secrets"#,
        r#"config/deploy.toml:19:12: builder.secrets[0]: bad secret name "bad-name": use NAME or NAME:SECRET_NAME with letters, digits and _"#,
    ];
    assert_eq!(errors(text), expected);
}

#[test]
fn delivery_is_refused_beside_a_registry() {
    let text = r#"service = "app"
image = "app"
servers = ["h1"]
delivery = "stream"

[registry]
server = "ghcr.io"
username = "me"
"#;
    assert_eq!(
        errors(text),
        [
            r#"config/deploy.toml:4:12: delivery: delivery applies only without [registry] (with one, hosts pull from it); remove one of them"#
        ]
    );
}

#[test]
fn tls_keys_must_agree() {
    let text = "service = \"app\"\nimage = \"org/app\"\nservers = [\"h1\"]\n\n[proxy]\nssl = false\nssl_certificate = \"c.pem\"\nacme_directory = \"https://acme.test/dir\"\n\n[accessories.cache]\nimage = \"redis\"\n";
    let expected = [
        r#"config/deploy.toml:7:19: proxy.ssl_certificate: ssl_certificate needs ssl_private_key (the PEM key file) beside it"#,
        r#"config/deploy.toml:1:1: proxy.acme_email: acme_email / acme_directory are for automatic certificates: set ssl = true (without certificate files) or remove them"#,
        r#"config/deploy.toml:6:7: proxy.ssl: ssl = false contradicts ssl_certificate: remove one of them"#,
        r#"config/deploy.toml:10:1: accessories.cache: accessory cache needs host, hosts, roles or tags"#,
    ];
    assert_eq!(errors(text), expected);
}

#[test]
fn required_keys_are_named() {
    let expected = [
        r#"config/deploy.toml:1:1: missing required key `service` (the app's name, e.g. service = "myapp")"#,
        r#"config/deploy.toml:1:1: missing required key `image` (e.g. image = "myorg/myapp")"#,
        r#"config/deploy.toml:1:1: missing required key `servers` (e.g. servers = ["192.0.2.10"])"#,
    ];
    assert_eq!(errors(""), expected);
}

#[test]
fn proxy_limits_must_make_sense() {
    let text = "service = \"app\"\nimage = \"org/app\"\nservers = [\"h1\"]\n\n[proxy]\nresponse_timeout = \"0s\"\nmax_connections = 0\n\n[proxy.buffering]\nmemory = 0\nmax_response_body = 10\n";
    let expected = [
        r#"config/deploy.toml:6:20: proxy.response_timeout: response_timeout must be more than 0"#,
        r#"config/deploy.toml:7:19: proxy.max_connections: max_connections must be at least 1"#,
        r#"config/deploy.toml:10:10: proxy.buffering.memory: memory must be at least 1 (bytes)"#,
        r#"config/deploy.toml:10:10: proxy.buffering.memory: memory is the size of a buffered body: set requests = true or responses = true, or remove it"#,
        r#"config/deploy.toml:11:21: proxy.buffering.max_response_body: max_response_body applies to buffered responses (a streamed one cannot be refused once it started): set responses = true, or remove it"#,
    ];
    assert_eq!(errors(text), expected);
    let ok = "service = \"app\"\nimage = \"org/app\"\nservers = [\"h1\"]\n\n[proxy]\nresponse_timeout = \"45s\"\nbuffering = { requests = true, responses = true, max_request_body = 40_000_000, max_response_body = 0, memory = 2_000_000 }\n";
    let c: Config = toml::from_str(ok).expect("parses");
    let files = [Located::new("config/deploy.toml", ok)];
    assert!(validate(&c, None, &files, &BTreeMap::new()).is_ok());
}

#[test]
fn tags_are_names_and_env_tags_need_a_host_carrying_them() {
    let text = r#"service = "app"
image = "org/app"
[servers.web]
hosts = ["h1", { host = "h2", tags = ["eu", "bad tag"] }]
[servers.jobs]
hosts = [{ host = "h3", tags = ["rack-1"] }]
[env.tags.eu]
clear = { REGION = "eu" }
[env.tags.us]
clear = { REGION = "us" }
"#;
    let expected = [
        r#"config/deploy.toml:4:45: servers.web.hosts[1].tags[1]: bad tag "bad tag": use letters, digits, - and _"#,
        r#"config/deploy.toml:9:1: env.tags.us: tag "us": no host carries it (tag a host in servers: { host = "...", tags = ["us"] }); tags on hosts: bad tag, eu, rack-1"#,
    ];
    assert_eq!(errors(text), expected);
}

#[test]
fn a_destination_may_carry_the_tags_of_the_base_env() {
    let base = "service = \"app\"\nimage = \"org/app\"\nservers = [\"h1\"]\n\
                [env.tags.eu]\nclear = { REGION = \"eu\" }\n";
    let staging = "servers = [{ host = \"s1\", tags = [\"eu\"] }]\n";
    let mut merged: toml::Table = toml::from_str(base).unwrap();
    crate::config::load::deep_merge(&mut merged, toml::from_str(staging).unwrap());
    let c: Config = toml::Value::Table(merged).try_into().unwrap();
    let files = [
        Located::new("config/deploy.toml", base),
        Located::new("config/deploy.staging.toml", staging),
    ];
    assert!(validate(&c, Some("staging"), &files, &BTreeMap::new()).is_ok());
    // A destination with hosts of its own, untagged, keeps the base file's tags' env valid.
    let tagged_base = base.replace("[\"h1\"]", "[{ host = \"h1\", tags = [\"eu\"] }]");
    let plain = "servers = [\"s1\"]\n";
    let mut merged: toml::Table = toml::from_str(&tagged_base).unwrap();
    crate::config::load::deep_merge(&mut merged, toml::from_str(plain).unwrap());
    let c: Config = toml::Value::Table(merged).try_into().unwrap();
    let files = [
        Located::new("config/deploy.toml", &tagged_base),
        Located::new("config/deploy.staging.toml", plain),
    ];
    assert!(validate(&c, Some("staging"), &files, &BTreeMap::new()).is_ok());
    // Without the destination no host carries it.
    let e = errors(base);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("config/deploy.toml:4:1: env.tags.eu: tag \"eu\": no host carries it"),
        "{e:?}"
    );
}

#[test]
fn the_traffic_keys_are_checked_at_their_lines() {
    let text = r#"service = "app"
image = "org/app"
servers = ["h1"]

[proxy]
hosts = ["app.test", "www.app.test"]
path_prefix = "/api"
path_prefixes = ["/admin", "x"]
canonical_host = "other.test"
error_pages_path = ""

[proxy.rate_limit]
requests = 0
per = "1s"
burst = 0
by = "cookie:session"
"#;
    let expected = [
        r#"config/deploy.toml:8:17: proxy.path_prefixes: path_prefix and path_prefixes exclude each other: one prefix is path_prefix = "/api", several are path_prefixes = ["/api", "/admin"]"#,
        r#"config/deploy.toml:8:28: proxy.path_prefixes[1]: path prefix "x" must start with / and name a path"#,
        r#"config/deploy.toml:13:12: proxy.rate_limit.requests: requests must be at least 1"#,
        r#"config/deploy.toml:15:9: proxy.rate_limit.burst: burst must be at least 1 (it is how many requests a client may send at once; leave it out for `requests`)"#,
        r#"config/deploy.toml:16:6: proxy.rate_limit.by: by = "cookie:session": expected "ip" or "header:NAME" (like header:X-Api-Key)"#,
        r#"config/deploy.toml:9:18: proxy.canonical_host: canonical_host "other.test" must be one of proxy.host / proxy.hosts (an exact name): requests for the others are redirected to it"#,
        r#"config/deploy.toml:10:20: proxy.error_pages_path: error_pages_path is empty: give the directory of 502.html, 503.html, 504.html and maintenance.html, or remove it"#,
    ];
    assert_eq!(errors(text), expected);
    let good = text
        .replace("path_prefix = \"/api\"\n", "")
        .replace("\"x\"", "\"/api\"")
        .replace("other.test", "app.test")
        .replace("error_pages_path = \"\"\n", "")
        .replace("requests = 0", "requests = 100")
        .replace("burst = 0", "burst = 50")
        .replace("cookie:session", "header:X-Api-Key");
    let c: Config = toml::from_str(&good).expect("parses");
    let files = [Located::new("config/deploy.toml", &good)];
    assert!(validate(&c, None, &files, &BTreeMap::new()).is_ok());
}

#[test]
fn cron_roles_are_checked_at_their_lines() {
    let text = r#"service = "app"
image = "org/app"

[servers.web]
hosts = ["h1"]

[servers.tick]
hosts = ["h1"]
schedule = "0 * * *"
proxy = true
keep_runs = 0

[servers.worker]
hosts = ["h1"]
keep_runs = 5
"#;
    let got = errors(text);
    assert_eq!(got.len(), 5, "{got:#?}");
    assert!(
        got[0].starts_with(
            "config/deploy.toml:9:12: servers.tick.schedule: bad schedule `0 * * *` has 4 fields"
        ),
        "{got:#?}"
    );
    assert!(got[1].contains("cron role tick has no cmd"), "{got:#?}");
    assert!(
        got[2].starts_with(
            "config/deploy.toml:10:9: servers.tick.proxy: cron role tick cannot be proxied"
        ),
        "{got:#?}"
    );
    assert!(
        got[3].contains("servers.tick.keep_runs: keep_runs must be 1 to 10000, not 0"),
        "{got:#?}"
    );
    assert!(
        got[4].contains("servers.worker.keep_runs: role worker has keep_runs but no schedule"),
        "{got:#?}"
    );
    let good = text
        .replace("0 * * *\"", "0 * * * *\"\ncmd = \"bin/tick\"")
        .replace("proxy = true\n", "")
        .replace("keep_runs = 0", "keep_runs = 10")
        .replace("keep_runs = 5\n", "");
    let c: Config = toml::from_str(&good).expect("parses");
    let files = [Located::new("config/deploy.toml", &good)];
    assert!(validate(&c, None, &files, &BTreeMap::new()).is_ok());
}

#[test]
fn replicas_are_1_to_64_and_not_on_a_cron_role() {
    let text = r#"service = "app"
image = "org/app"

[servers.web]
hosts = ["h1"]
replicas = 0

[servers.jobs]
hosts = ["h1"]
replicas = 65

[servers.tick]
hosts = ["h1"]
schedule = "0 * * * *"
cmd = "bin/tick"
replicas = 2
"#;
    let got = errors(text);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(
        got.iter()
            .any(|e| e.contains("servers.web.replicas: replicas must be 1 to 64, not 0")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|e| e.contains("servers.jobs.replicas: replicas must be 1 to 64, not 65")),
        "{got:#?}"
    );
    assert!(
        got.iter().any(
            |e| e.contains("servers.tick.replicas: cron role tick runs one scheduler per host")
        ),
        "{got:#?}"
    );
    let good = text
        .replace("replicas = 0", "replicas = 4")
        .replace("replicas = 65", "replicas = 64")
        .replace("replicas = 2\n", "replicas = 1\n");
    let c: Config = toml::from_str(&good).expect("parses");
    let files = [Located::new("config/deploy.toml", &good)];
    assert!(validate(&c, None, &files, &BTreeMap::new()).is_ok());
}

#[test]
fn proxied_roles_need_routes_of_their_own() {
    let text = r#"service = "app"
image = "org/app"

[servers.web]
hosts = ["h1"]

[servers.admin]
hosts = ["h1"]
proxy = true

[servers.api]
hosts = ["h1"]
proxy = { host = "api.example.com", path_prefix = "v1" }

[proxy]
host = "example.com"
"#;
    let got = errors(text);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter().any(|e| e.contains(
            "servers.admin: roles web and admin are both proxied on the same hosts and path"
        ) || e.contains(
            "servers.web: roles admin and web are both proxied on the same hosts and path"
        )),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|e| e
                .contains("servers.api.proxy.path_prefix: path prefix \"v1\" must start with /")),
        "{got:#?}"
    );
    let good = text
        .replace("proxy = true", "proxy = { host = \"admin.example.com\" }")
        .replace("\"v1\"", "\"/v1\"");
    let c: Config = toml::from_str(&good).expect("parses");
    let files = [Located::new("config/deploy.toml", &good)];
    assert!(validate(&c, None, &files, &BTreeMap::new()).is_ok());
    // A table of unknown keys is refused.
    assert!(
        toml::from_str::<Config>(&text.replace("proxy = true", "proxy = { hots = \"x\" }"))
            .is_err()
    );
}
