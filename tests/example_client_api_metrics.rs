//! Example 5 end to end (examples/client-api-metrics): a client and an API as two apps on one
//! host's proxy (`/` and `/api`, the prefix stripped), a PostgreSQL accessory the API reads,
//! and the proxy's Prometheus metrics scraped by a real Prometheus on this machine's loopback
//! (through an SSH forward to the metrics port, which the firewall would keep closed). The
//! API is redeployed under load on both routes (0 failed requests), then Prometheus's HTTP
//! API answers the request count per service, equal to what the proxy itself reports and at
//! least the requests the load got answered.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::example::{summary, Example};
use support::load::Load;
use support::prometheus::Prometheus;
use support::{http_get, text};

const HOST: &str = "partypic.test";
const METRICS_PORT: u16 = 9394;

/// `dhow_proxy_requests_total` summed per service, as the proxy's /metrics says now.
fn proxy_counts(addr: &str) -> BTreeMap<String, f64> {
    let (status, body) = http_get(addr, "127.0.0.1", "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "metrics: {body}");
    let mut out = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| l.starts_with("dhow_proxy_requests_total{"))
    {
        let service = line
            .split("service=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string();
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(service).or_default() += n;
    }
    out
}

fn clean(ex: &Example) {
    // A run before this one may have left the database (its volume has another password).
    let h1 = ex.host(1);
    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    ex.dhow(&["-c", "config/client.toml", "remove", "-d", "sandbox", "-y"]);
    let c = ex.sb.container(1);
    let out = ex.sb.docker_exec(
        &c,
        "docker rm -f partypic-api-db-sandbox >/dev/null 2>&1; docker volume rm -f partypic-pgdata >/dev/null",
    );
    assert!(out.status.success(), "cleaning {h1}: {}", text(&out));
}

#[test]
fn client_and_api_on_one_proxy_with_postgres_and_prometheus() {
    let ex = Example::copy("client-api-metrics");
    clean(&ex);
    let addr = ex.sb.http_addr(&ex.host(1));
    let client = ["-c", "config/client.toml"];

    ex.dhow_ok(&["accessory", "boot", "db", "-d", "sandbox"]);
    ex.dhow_ok(&["deploy", "-d", "sandbox", "--version", "v1"]);
    ex.dhow_ok(&[
        client[0],
        client[1],
        "deploy",
        "-d",
        "sandbox",
        "--version",
        "v1",
    ]);
    // metrics_port is a boot setting: a proxy booted earlier without it gets it here.
    ex.dhow_ok(&["proxy", "reboot", "-d", "sandbox"]);

    let get = |path: &str| http_get(&addr, HOST, path).expect("GET");
    assert_eq!(get("/"), (200, "client v1\n".into()));
    assert_eq!(get("/photos/1"), (200, "client v1\n".into()));
    assert_eq!(get("/api/photos"), (200, "api v1\n".into()));
    let (status, rows) = get("/api/db");
    assert_eq!(
        (status, rows.as_str()),
        (200, "first party\nsecond party\n")
    );

    let (_tunnel, local) = ex.ssh_forward(&ex.host(1), METRICS_PORT);
    let metrics = format!("127.0.0.1:{local}");
    let work = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(work.path(), "dhow-proxy", std::slice::from_ref(&metrics));

    let api_load = Load::start(&addr, HOST, "/api/", 4);
    let client_load = Load::start(&addr, HOST, "/", 2);
    std::thread::sleep(Duration::from_secs(1));
    ex.dhow_ok(&["deploy", "-d", "sandbox", "--version", "v2"]);
    std::thread::sleep(Duration::from_secs(1));
    let api = api_load.stop();
    let cli = client_load.stop();
    assert_eq!(
        api.failed, 0,
        "API requests failed during its deploy: {:?}",
        api.failures
    );
    assert_eq!(
        cli.failed, 0,
        "client requests failed during the API's deploy: {:?}",
        cli.failures
    );
    assert!(
        api.bodies.contains_key("api v1") && api.bodies.contains_key("api v2"),
        "{:?}",
        api.bodies
    );
    assert_eq!(
        cli.bodies.keys().collect::<Vec<_>>(),
        ["client v1"],
        "{:?}",
        cli.bodies
    );
    assert_eq!(get("/api/db").1, "first party\nsecond party\n");

    // Prometheus's answer per service, once it has scraped the counts the proxy has now.
    let direct = proxy_counts(&metrics);
    let svc = |m: &BTreeMap<String, f64>, prefix: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    let (api_n, client_n) = (
        svc(&direct, "partypic--api-"),
        svc(&direct, "partypic--client-"),
    );
    assert!(
        api_n >= api.ok as f64,
        "proxy counted {api_n} API requests, the load got {} answers",
        api.ok
    );
    assert!(
        client_n >= cli.ok as f64,
        "proxy counted {client_n} client requests, the load got {}",
        cli.ok
    );
    let query = "sum by (service) (dhow_proxy_requests_total)";
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let got: BTreeMap<String, f64> = prom.query(query, "service").into_iter().collect();
        if prom.targets_up() && got == direct {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus answered {got:?}, the proxy says {direct:?}\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    ex.dhow(&["remove", "-d", "sandbox", "-y"]);
    ex.dhow(&[client[0], client[1], "remove", "-d", "sandbox", "-y"]);
    summary(
        "client-api-metrics",
        &format!(
            "/ and /api on one proxy, PostgreSQL read by the API, API redeployed under load \
             ({} API + {} client requests); Prometheus query `{query}` = {answer:?}",
            api.ok, cli.ok
        ),
        Some(api.failed + cli.failed),
    );
}
