//! TLS with the real binary: certificates given at deploy and picked by SNI, HTTP/2 by ALPN,
//! plain HTTP redirected to HTTPS (the health path excepted), certificates back after a
//! restart, an unknown name refused, bad certificate files refused at deploy, and a returning
//! client resuming its session (TLS 1.3 tickets, TLS 1.2 session IDs) instead of a full handshake.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use std::path::Path;
use support::*;

/// A self-signed certificate for `names`, written as PEM files in `dir`; returns the paths and
/// the DER of the certificate.
fn cert(dir: &Path, label: &str, names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert_path = dir.join(format!("{label}.crt"));
    let key_path = dir.join(format!("{label}.key"));
    std::fs::write(&cert_path, c.cert.pem()).unwrap();
    std::fs::write(&key_path, c.signing_key.serialize_pem()).unwrap();
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
        c.cert.der().clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_each_services_certificate_and_h2_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (shop_crt, shop_key, shop_der) = cert(dir.path(), "shop", &["shop.test"]);
    let (blog_crt, blog_key, blog_der) = cert(dir.path(), "blog", &["*.blog.test"]);
    let shop = Backend::start("shop").await;
    let blog = Backend::start("blog").await;
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    proxy.deploy(
        "shop",
        &shop.target(),
        &[
            "--host",
            "shop.test",
            "--tls-cert",
            &shop_crt,
            "--tls-key",
            &shop_key,
        ],
    );
    proxy.deploy(
        "blog",
        &blog.target(),
        &[
            "--host",
            "*.blog.test",
            "--tls-cert",
            &blog_crt,
            "--tls-key",
            &blog_key,
        ],
    );
    let roots = [shop_der.clone(), blog_der.clone()];

    // HTTP/1.1: each name gets its own certificate.
    let tls = connect(https, "shop.test", &roots, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], shop_der);
    assert_eq!(get_over(tls, "shop.test", "/").await, (200, "shop".into()));
    let tls = connect(https, "www.blog.test", &roots, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], blog_der);
    let (status, echo) = get_over(tls, "www.blog.test", "/echo").await;
    assert_eq!(status, 200);
    assert!(echo.contains("x-forwarded-proto: https"), "{echo}");

    // HTTP/2 when the client offers it.
    let tls = connect(https, "shop.test", &roots, &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut streams = Vec::new();
    for _ in 0..10 {
        let req = hyper::Request::get("https://shop.test/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        streams.push(sender.send_request(req));
    }
    for s in streams {
        let resp = s.await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"shop");
    }

    // A name no service has a certificate for: the handshake is refused.
    assert!(connect(https, "nobody.test", &roots, &[]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_redirected_except_the_health_path_and_certs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key, der) = cert(dir.path(), "shop", &["shop.test"]);
    let shop = Backend::start("shop").await;
    let mut proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    proxy.deploy(
        "shop",
        &shop.target(),
        &["--host", "shop.test", "--tls-cert", &crt, "--tls-key", &key],
    );
    let answer = raw(
        proxy.http,
        b"GET /cart?id=7 HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(10),
    )
    .await;
    assert_eq!(status_of(&answer), 308, "{answer}");
    let location = format!("location: https://shop.test:{}/cart?id=7\r\n", https.port());
    assert!(answer.to_ascii_lowercase().contains(&location), "{answer}");
    assert_eq!(
        get(proxy.http, "shop.test", "/up").await.0,
        200,
        "health stays on HTTP"
    );
    assert_eq!(shop.served(), 0);

    proxy.kill();
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    let tls = connect(https, "shop.test", &[der], &[]).await.unwrap();
    assert_eq!(get_over(tls, "shop.test", "/").await, (200, "shop".into()));
    let (_, list) = proxy.ctl(&["list"]);
    assert!(list.contains("shop.crt"), "{list}");

    // --no-tls-redirect keeps plain HTTP serving.
    proxy.deploy(
        "shop",
        &shop.target(),
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
    assert_eq!(
        get(proxy.http, "shop.test", "/").await,
        (200, "shop".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificate_files_are_refused_at_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, _key, _) = cert(dir.path(), "a", &["a.test"]);
    let (_, other_key, _) = cert(dir.path(), "b", &["b.test"]);
    let backend = Backend::start("a").await;
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let t = backend.target();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tls-cert", "/nonexistent.crt", "--tls-key", &other_key],
            "cannot read /nonexistent.crt",
        ),
        (
            vec!["--tls-cert", &crt, "--tls-key", &other_key],
            "does not belong to",
        ),
        (
            vec!["--tls-cert", &other_key, "--tls-key", &other_key],
            "no certificate",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["deploy", "a", "--target", &t, "--host", "a.test"];
        args.extend(flags);
        let (ok, out) = proxy.ctl(&args);
        assert!(!ok && out.contains(want), "{args:?}: {out}");
    }
    let (_, list) = proxy.ctl(&["list"]);
    assert!(
        list.contains("\"services\":[]"),
        "nothing was routed: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_on_the_plain_port_beside_http1() {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app").await;
    let proxy = ProxyProc::start(dir.path(), &[]);
    proxy.deploy("app", &app.target(), &["--host", "app.test"]);

    // Several streams over one cleartext HTTP/2 connection.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut streams = Vec::new();
    for path in ["/", "/echo", "/"] {
        let req = hyper::Request::get(format!("http://app.test{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        streams.push(sender.send_request(req));
    }
    let mut bodies = Vec::new();
    for s in streams {
        let resp = s.await.unwrap();
        assert_eq!(
            (resp.status().as_u16(), resp.version()),
            (200, hyper::Version::HTTP_2)
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        bodies.push(String::from_utf8_lossy(&body).into_owned());
    }
    assert_eq!(bodies[0], "app");
    assert!(
        bodies[1].contains("x-forwarded-proto: http\n"),
        "{}",
        bodies[1]
    );

    // HTTP/1.1 on the same port is unaffected, including a request that starts like the
    // preface's first letter.
    assert_eq!(get(proxy.http, "app.test", "/").await, (200, "app".into()));
    let answer = raw(
        proxy.http,
        b"PUT / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_client_resumes_its_session() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key, der) = cert(dir.path(), "shop", &["shop.test"]);
    let shop = Backend::start("shop").await;
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    proxy.deploy(
        "shop",
        &shop.target(),
        &["--host", "shop.test", "--tls-cert", &crt, "--tls-key", &key],
    );
    for versions in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut store = rustls::RootCertStore::empty();
        store.add(der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[versions])
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
        // One client config (and its session store) for both connections, as a browser has.
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let tcp = tokio::net::TcpStream::connect(https).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("shop.test").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            kinds.push(tls.get_ref().1.handshake_kind());
            assert_eq!(get_over(tls, "shop.test", "/").await, (200, "shop".into()));
        }
        assert_eq!(
            kinds,
            [
                Some(rustls::HandshakeKind::Full),
                Some(rustls::HandshakeKind::Resumed)
            ],
            "{versions:?}"
        );
    }
}
