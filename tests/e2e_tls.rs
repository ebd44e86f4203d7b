//! End-to-end: a deploy with `proxy.ssl_certificate` / `ssl_private_key` serves the app over
//! HTTPS (HTTP/2 when the client asks) with that certificate, redirects plain HTTP, keeps the
//! key at mode 0600 on the host and out of everything dhow prints. Its own test binary: it
//! replaces host 2's proxy (one booted by an older dhow has no HTTPS port), which would cut
//! other tests' traffic on that host.

mod support;

use std::process::Command;
use support::{config_with_servers, text, Project, Sandbox};

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_deploy_with_a_certificate_serves_https_and_h2() {
    let sb = Sandbox::load();
    let svc = "tlsapp";
    let host = sb.hosts()[1].clone();
    let https_port = sb.var("SANDBOX_HTTPS_PORT").to_string();
    let c = rcgen::generate_simple_self_signed(vec![format!("{svc}.test")]).unwrap();
    let key_pem = c.key_pair.serialize_pem();
    let p = Project::new(&config_with_servers(
        &sb,
        svc,
        &format!("servers = [\"{host}\"]"),
        "",
    ));
    p.write("certs/app.pem", &c.cert.pem());
    p.write("certs/app.key", &key_pem);
    let plain_cfg = std::fs::read_to_string(p.path().join("config/deploy.toml")).unwrap();
    let tls_cfg = plain_cfg.replace(
        "app_port = 3000\n",
        "app_port = 3000\nssl_certificate = \"certs/app.pem\"\nssl_private_key = \"certs/app.key\"\n",
    );

    // A first deploy without a certificate delivers the proxy image. Then host 2 gets a proxy
    // like one an older dhow booted (plain HTTP only): a deploy with a certificate names the
    // problem and the fix.
    p.dhow_ok(&["deploy", "--version", "t0"]);
    support::replace_proxy(&sb, 2, "run");
    p.write("config/deploy.toml", &tls_cfg);
    let out = p.dhow(&["deploy", "--version", "t0b"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not serve HTTPS")
            && text(&out).contains("docker rm -f dhow-proxy"),
        "{}",
        text(&out)
    );

    // Replaced as told, the deploy boots a proxy that serves HTTPS.
    let _ = sb.docker_exec(&sb.container(2), "docker rm -f dhow-proxy");
    let out = p.dhow_ok(&["deploy", "--version", "t1", "--json"]);
    let printed = text(&out);
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(
        !printed.contains(key_line),
        "the key leaked into dhow's output"
    );

    let cacert = p.path().join("certs/app.pem");
    let resolve = format!("{svc}.test:{https_port}:{host}");
    let url = format!("https://{svc}.test:{https_port}/");
    let (ok, body) = curl(&[
        "--resolve",
        &resolve,
        "--cacert",
        cacert.to_str().unwrap(),
        "--http1.1",
        &url,
    ]);
    assert!(ok, "{body}");
    assert_eq!(body.trim(), "demo t1");
    let (ok, version) = curl(&[
        "--resolve",
        &resolve,
        "--cacert",
        cacert.to_str().unwrap(),
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &url,
    ]);
    assert!(ok, "{version}");
    assert_eq!(version.trim(), "2", "HTTP/2 negotiated by ALPN");

    // Plain HTTP is redirected (the proxy's public HTTPS port is 443 inside the host).
    let (ok, head) = curl(&[
        "-i",
        "-H",
        &format!("Host: {svc}.test"),
        &format!("http://{}/orders?id=1", sb.http_addr(&host)),
    ]);
    assert!(ok, "{head}");
    assert!(head.starts_with("HTTP/1.1 308"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("location: https://{svc}.test/orders?id=1")),
        "{head}"
    );

    // The key on the host: only root reads it.
    let mode = sb.docker_exec(
        &sb.container(2),
        &format!("stat -c %a /var/lib/docker/volumes/dhow-proxy-state/_data/certs/{svc}-web.key"),
    );
    assert_eq!(text(&mode).trim(), "600", "{}", text(&mode));

    // A second deploy switches under HTTPS too.
    p.dhow_ok(&["deploy", "--version", "t2"]);
    let (ok, body) = curl(&[
        "--resolve",
        &resolve,
        "--cacert",
        cacert.to_str().unwrap(),
        &url,
    ]);
    assert!(ok && body.trim() == "demo t2", "{body}");
}
