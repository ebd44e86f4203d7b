//! Many TLS clients connecting at once: every one is handshaken and answered (HTTP/1.1 and
//! h2 by ALPN), as when a page's first visitors or a load balancer's pool arrive together.

mod support;

use support::*;

fn cert(dir: &std::path::Path) -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["shop.test".to_string()]).unwrap();
    let crt = dir.join("shop.crt");
    let key = dir.join("shop.key");
    std::fs::write(&crt, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (
        crt.display().to_string(),
        key.display().to_string(),
        c.cert.der().clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_tls_connections_is_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key, der) = cert(dir.path());
    let shop = Backend::start("shop").await;
    let proxy = ProxyProc::start(dir.path(), &["--https", "127.0.0.1:0"]);
    let https = https_addr(&proxy);
    proxy.deploy(
        "shop",
        &shop.target(),
        &["--host", "shop.test", "--tls-cert", &crt, "--tls-key", &key],
    );
    let n: usize = std::env::var("TLS_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut tasks = Vec::new();
    for i in 0..n {
        let roots = [der.clone()];
        tasks.push(tokio::spawn(async move {
            let alpn: &[&[u8]] = if i % 2 == 0 { &[b"http/1.1"] } else { &[b"h2"] };
            let tls = connect(https, "shop.test", &roots, alpn)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            if i % 2 == 0 {
                let (status, body) = get_over(tls, "shop.test", "/").await;
                return Ok::<_, String>((status, body));
            }
            let (mut sender, conn) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(tls),
            )
            .await
            .map_err(|e| format!("h2: {e}"))?;
            tokio::spawn(conn);
            let req = hyper::Request::get("https://shop.test/")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("h2 request: {e}"))?;
            Ok((resp.status().as_u16(), String::new()))
        }));
    }
    let mut errors = Vec::new();
    let mut answered = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((200, _)) => answered += 1,
            Ok((s, b)) => errors.push(format!("status {s}: {b}")),
            Err(e) => errors.push(e),
        }
    }
    errors.truncate(5);
    assert_eq!(
        answered, n,
        "answered {answered} of {n}; first errors: {errors:?}"
    );
}
