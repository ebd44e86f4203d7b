//! The host a request names, as the app and the proxy's own decisions see it: over HTTP/2
//! (TLS with ALPN h2, and h2c) the app gets the client's `:authority` as Host, with
//! X-Forwarded-Host/-Proto to match, exactly as over HTTP/1.1; and one host rule (any case,
//! any `:port`) decides routing, the redirect to HTTPS and the certificate.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A self-signed certificate for `names` as PEM files in `dir`: (cert path, key path, DER).
fn cert(dir: &Path, label: &str, names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let cert_path = dir.join(format!("{label}.pem"));
    let key_path = dir.join(format!("{label}-key.pem"));
    std::fs::write(&cert_path, c.cert.pem()).unwrap();
    std::fs::write(&key_path, c.signing_key.serialize_pem()).unwrap();
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
        c.cert.der().clone(),
    )
}

/// GET `uri` over one HTTP/2 connection on `io`: the echoed request headers, lower case.
async fn h2_echo<S>(io: S, uri: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, hyper::Version::HTTP_2)
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_reach_the_app_with_the_clients_host() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key, der) = cert(dir.path(), "shop", &["shop.test"]);
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    proxy.deploy(
        "shop",
        &app.target(),
        &[
            "--host",
            "shop.test",
            "--tls-cert",
            &crt,
            "--tls-key",
            &key,
            "--no-tls-redirect",
        ],
    );

    // HTTP/1.1 over TLS: what the app sees is the reference.
    let tls = connect(
        https,
        "shop.test",
        std::slice::from_ref(&der),
        &[b"http/1.1"],
    )
    .await
    .unwrap();
    let (_, h1) = get_over(tls, "shop.test:8443", "/echo").await;
    assert!(h1.contains("host: shop.test:8443\n"), "{h1}");

    // HTTP/2 over TLS: the same host from :authority.
    let tls = connect(https, "shop.test", &[der], &[b"h2"]).await.unwrap();
    let seen = h2_echo(tls, "https://shop.test:8443/echo").await;
    assert!(seen.contains("host: shop.test:8443\n"), "{seen}");
    assert!(
        seen.contains("x-forwarded-host: shop.test:8443\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: https\n"), "{seen}");
    assert!(!seen.contains(&format!("host: {}", app.addr)), "{seen}");

    // h2c (prior knowledge) on the plain port.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let seen = h2_echo(tcp, "http://shop.test/echo").await;
    assert!(seen.contains("host: shop.test\n"), "{seen}");
    assert!(seen.contains("x-forwarded-host: shop.test\n"), "{seen}");
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_case_and_port_do_not_change_routing_redirects_or_certificates() {
    let dir = tempfile::tempdir().unwrap();
    // An automatic certificate the proxy already holds (as after an earlier order).
    let stored = dir.path().join("acme/certs/shop.test");
    let (_, key, der) = cert(&stored, "cert", &["shop.test"]);
    std::fs::rename(key, stored.join("key.pem")).unwrap();
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(
        dir.path(),
        &["--https", "127.0.0.1:0", "--https-public-port", "443"],
    );
    let https = https_addr(&proxy);
    proxy.deploy("shop", &app.target(), &["--host", "shop.test", "--acme"]);

    // The certificate is served once the proxy loaded it; plain HTTP then redirects.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let answer = raw(
            proxy.http,
            b"GET /a HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
            WAIT,
        )
        .await;
        if status_of(&answer) == 308 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never redirected: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for host in ["SHOP.test", "shop.test:80", "Shop.Test:", "shop.test"] {
        let request = format!("GET /a?b HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw(proxy.http, request.as_bytes(), WAIT).await;
        assert_eq!(status_of(&answer), 308, "{host}: {answer}");
        let location = answer
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert_eq!(location, "https://shop.test/a?b", "{host}: {answer}");
    }
    // Routing takes the same host, any case and port.
    let answer = raw(
        proxy.http,
        b"GET /up HTTP/1.1\r\nHost: SHOP.TEST:80\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    // And the certificate, whatever the case of the name the client asks for.
    for name in ["shop.test", "SHOP.Test"] {
        let tls = connect(https, name, std::slice::from_ref(&der), &[b"http/1.1"]).await;
        assert!(tls.is_ok(), "{name}: {:?}", tls.err());
    }
}
