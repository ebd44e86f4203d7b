//! Automatic certificates against a real ACME server: Pebble (Let's Encrypt's test CA, Debian
//! package `pebble`) with pebble-challtestsrv as its DNS, which answers every name with
//! 127.0.0.1. The real `dhow-proxy` answers the HTTP-01 and TLS-ALPN-01 challenges itself;
//! clients then get certificates that chain to Pebble's root.

mod support;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A port free on 127.0.0.1 for TCP and UDP, below Linux's ephemeral range (32768+) so the
/// many client connections of tests running beside this one cannot take it meanwhile.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    loop {
        let n = NEXT.fetch_add(7919, Ordering::Relaxed).wrapping_add(seed);
        let port = 20_000 + (n % 12_000) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
}

fn binary(name: &str) -> String {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.exists());
    match found {
        Some(p) => p.display().to_string(),
        None => panic!("{name} is not installed: `apt-get install pebble` (make deps does it)"),
    }
}

/// Pebble and its DNS, stopped when dropped.
struct Pebble {
    children: Vec<Child>,
    directory: String,
    management: SocketAddr,
    dns_management: SocketAddr,
    /// The CA of Pebble's own HTTPS listener (for --acme-ca-root).
    listener_ca: PathBuf,
    listener_ca_der: CertificateDer<'static>,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pebble {
    /// Pebble validating HTTP-01 on 127.0.0.1:`http_port` and TLS-ALPN-01 on `tls_port`.
    fn start(dir: &Path, http_port: u16, tls_port: u16) -> Pebble {
        // Pebble's HTTPS listener: a CA and a certificate for 127.0.0.1 signed by it.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let listener_ca = dir.join("pebble-listener-ca.pem");
        std::fs::write(&listener_ca, ca.pem()).unwrap();
        std::fs::write(dir.join("pebble.crt"), leaf.pem()).unwrap();
        std::fs::write(dir.join("pebble.key"), leaf_key.serialize_pem()).unwrap();

        let (listen, mgmt, dns, dns_mgmt) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("pebble.crt"),
            "privateKey": dir.join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.join(name)).unwrap());
        let dns_child = Command::new(binary("pebble-challtestsrv"))
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{dns_mgmt}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .unwrap();
        let pebble_child = Command::new(binary("pebble"))
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // Validate at once instead of after Pebble's random 0-15 s sleep.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        let pebble = Pebble {
            children: vec![dns_child, pebble_child],
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management: format!("127.0.0.1:{mgmt}").parse().unwrap(),
            dns_management: format!("127.0.0.1:{dns_mgmt}").parse().unwrap(),
            listener_ca,
            listener_ca_der: ca.der().clone(),
        };
        for addr in [
            format!("127.0.0.1:{listen}"),
            format!("127.0.0.1:{dns_mgmt}"),
        ] {
            let started = Instant::now();
            while std::net::TcpStream::connect(&addr).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "{addr} never listened; pebble said: {}{}",
                    std::fs::read_to_string(dir.join("pebble.err")).unwrap_or_default(),
                    std::fs::read_to_string(dir.join("challtestsrv.err")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pebble
    }

    /// The root that Pebble's issued certificates chain to.
    async fn issuing_root(&self) -> CertificateDer<'static> {
        let tls = connect(
            self.management,
            "127.0.0.1",
            std::slice::from_ref(&self.listener_ca_der),
            &[],
        )
        .await
        .unwrap();
        let (status, pem) = get_over(tls, "127.0.0.1", "/roots/0").await;
        assert_eq!(status, 200, "{pem}");
        let root = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        root
    }

    /// Make the DNS answer `host` with `ip` (instead of 127.0.0.1).
    async fn set_a(&self, host: &str, ip: &str) {
        let body = serde_json::json!({ "host": format!("{host}."), "addresses": [ip] });
        let tcp = tokio::net::TcpStream::connect(self.dns_management)
            .await
            .unwrap();
        let (status, text) = post_over(tcp, "/add-a", &body.to_string()).await;
        assert_eq!(status, 200, "{text}");
    }

    /// The real proxy with `flags`, getting its certificates from this Pebble.
    fn proxy(&self, dir: &Path, flags: &[&str]) -> ProxyProc {
        let ca = self.listener_ca.display().to_string();
        let mut all = flags.to_vec();
        all.extend(["--acme-directory", &self.directory, "--acme-ca-root", &ca]);
        all.extend(["--acme-email", "ops@acme.test"]);
        ProxyProc::start(dir, &all)
    }
}

/// The proxy's `list` entry for `host` of `service` once its certificate state is not
/// pending/obtaining any more (or the deadline passes).
fn settled_state(proxy: &ProxyProc, service: &str, host: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (ok, out) = proxy.ctl(&["list"]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let entry = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .map(|s| s["acme"][host].clone())
            .unwrap_or_default();
        let state = entry["state"].as_str().unwrap_or("");
        if state == "valid" || state == "failed" || started.elapsed() > Duration::from_secs(90) {
            return entry;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The leaf certificate served for `host`, verified against `root`, and a GET through it.
async fn served(
    addr: SocketAddr,
    host: &str,
    root: &CertificateDer<'static>,
) -> (Vec<u8>, u16, String) {
    let tls = connect(addr, host, std::slice::from_ref(root), &[b"http/1.1"])
        .await
        .unwrap_or_else(|e| panic!("TLS to {host}: {e}"));
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (status, body) = get_over(tls, host, "/").await;
    (leaf, status, body)
}

fn stderr_so_far(proxy: &ProxyProc) -> String {
    proxy.stderr_rest.try_iter().collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_certificate_is_obtained_served_kept_across_restarts_and_failures_explained() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let pebble = Pebble::start(dir.path(), http_port, free_port());
    let root = pebble.issuing_root().await;
    let app = Backend::start("app").await;
    let http = format!("127.0.0.1:{http_port}");
    let flags = [
        "--http",
        &http,
        "--https",
        "127.0.0.1:0",
        "--acme-challenge",
        "http-01",
    ];
    let mut proxy = pebble.proxy(dir.path(), &flags);
    let https = https_addr(&proxy);

    // Before the certificate exists plain HTTP is served, not redirected.
    let out = proxy.deploy("app", &app.target(), &["--host", "app.acme.test", "--acme"]);
    assert!(out.contains("\"service\":\"app\""), "{out}");
    let entry = settled_state(&proxy, "app", "app.acme.test");
    assert_eq!(
        entry["state"],
        "valid",
        "{entry}\nproxy said:\n{}",
        stderr_so_far(&proxy)
    );
    assert!(entry["expires"].as_u64().unwrap() > 0);

    // HTTPS with a certificate that chains to Pebble's root; plain HTTP now redirects.
    let (leaf, status, body) = served(https, "app.acme.test", &root).await;
    assert_eq!((status, body.as_str()), (200, "app"));
    let (status, _) = get(proxy.http, "app.acme.test", "/").await;
    assert_eq!(status, 308);
    let key = dir.path().join("acme/certs/app.acme.test/key.pem");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the private key must be private");

    // A restart serves the saved certificate at once; no new order.
    proxy.kill();
    let proxy = pebble.proxy(dir.path(), &flags);
    let https = https_addr(&proxy);
    let (again, _, _) = served(https, "app.acme.test", &root).await;
    assert_eq!(
        again, leaf,
        "the restarted proxy should serve the saved certificate"
    );
    std::thread::sleep(Duration::from_millis(500));
    let said = stderr_so_far(&proxy);
    assert!(
        !said.contains("obtaining a certificate"),
        "a new order after restart: {said}"
    );

    // A name that does not resolve to this proxy: the failure says why; HTTP still served.
    pebble.set_a("elsewhere.acme.test", "127.0.0.9").await;
    proxy.deploy(
        "other",
        &app.target(),
        &["--host", "elsewhere.acme.test", "--acme"],
    );
    let entry = settled_state(&proxy, "other", "elsewhere.acme.test");
    assert_eq!(entry["state"], "failed", "{entry}");
    let error = entry["error"].as_str().unwrap();
    assert!(
        error.contains("could not validate the http-01 challenge"),
        "{error}"
    );
    assert!(entry["retry_in_s"].as_u64().unwrap() > 0);
    let said = stderr_so_far(&proxy);
    assert!(said.contains("resolves to this server"), "{said}");
    assert_eq!(
        get(proxy.http, "elsewhere.acme.test", "/").await,
        (200, "app".into())
    );

    // Names ACME cannot certify are refused at deploy, with the reason.
    let (ok, out) = proxy.ctl(&[
        "deploy",
        "wild",
        "--target",
        &app.target(),
        "--host",
        "*.acme.test",
        "--acme",
    ]);
    assert!(!ok && out.contains("exact DNS names"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_certificate_is_obtained_and_renewed_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let pebble = Pebble::start(dir.path(), free_port(), tls_port);
    let root = pebble.issuing_root().await;
    let app = Backend::start("app").await;
    let https = format!("127.0.0.1:{tls_port}");
    // Renew whenever checked (every second): Pebble's certificates last years.
    let flags = [
        "--https",
        &https,
        "--acme-challenge",
        "tls-alpn-01",
        "--acme-renew-before",
        "100000d",
        "--acme-check-interval",
        "1s",
    ];
    let proxy = pebble.proxy(dir.path(), &flags);
    let https = https_addr(&proxy);
    proxy.deploy(
        "app",
        &app.target(),
        &["--host", "alpn.acme.test", "--acme"],
    );
    let entry = settled_state(&proxy, "app", "alpn.acme.test");
    assert_eq!(
        entry["state"],
        "valid",
        "{entry}\nproxy said:\n{}",
        stderr_so_far(&proxy)
    );
    let (first, status, body) = served(https, "alpn.acme.test", &root).await;
    assert_eq!((status, body.as_str()), (200, "app"));

    // Renewal swaps the certificate under live traffic.
    let started = Instant::now();
    loop {
        let (leaf, status, body) = served(https, "alpn.acme.test", &root).await;
        assert_eq!((status, body.as_str()), (200, "app"));
        if leaf != first {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never renewed; proxy said:\n{}",
            stderr_so_far(&proxy)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stderr_so_far(&proxy).contains("renewing a certificate for alpn.acme.test"));
}
