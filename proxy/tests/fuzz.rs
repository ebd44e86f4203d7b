//! Property-based fuzzing of request handling (run by `cargo test`, bounded): random bytes,
//! and requests built from real methods, headers and framing mutated at random, are sent on raw
//! sockets to the real binary. Whatever comes in, the proxy answers with a well-formed HTTP
//! status (or closes the connection), never crashes, and keeps serving the next request.

mod support;

use proptest::prelude::*;
use std::time::Duration;
use support::*;

fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        8 => prop::sample::select(vec!["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"]),
        1 => prop::sample::select(vec!["CONNECT", "G\0T", "", "get", "BREW"]),
    ];
    let target = prop_oneof![
        4 => Just("/".to_string()),
        4 => "/[a-z0-9/?=&%._~-]{0,40}",
        1 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
    ];
    let version = prop_oneof![
        8 => Just("HTTP/1.1"),
        2 => Just("HTTP/1.0"),
        1 => prop::sample::select(vec!["HTTP/2.0", "HTTP/1.1 extra", "", "HTTP/9"]),
    ];
    let header = prop_oneof![
        3 => Just("Host: app.test".to_string()),
        2 => Just("Connection: close".to_string()),
        1 => Just("Transfer-Encoding: chunked".to_string()),
        1 => Just("Transfer-Encoding: gzip, chunked".to_string()),
        2 => (0u64..400).prop_map(|n| format!("Content-Length: {n}")),
        1 => (0u64..100_000).prop_map(|n| format!("Content-Length: {n}")),
        1 => Just("Content-Length: -1".to_string()),
        1 => Just("Connection: upgrade".to_string()),
        1 => Just("Upgrade: websocket".to_string()),
        1 => Just("Expect: 100-continue".to_string()),
        1 => Just("X-Forwarded-For: 10.0.0.1".to_string()),
        2 => "[A-Za-z-]{1,20}: [ -~]{0,60}",
        1 => "[ -~]{0,40}",
    ];
    let sep = prop_oneof![8 => Just("\r\n"), 1 => Just("\n"), 1 => Just("\r")];
    let body = prop_oneof![
        3 => Just(Vec::new()),
        2 => "[a-z0-9\r\n]{0,200}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    (
        method,
        target,
        version,
        prop::collection::vec(header, 0..8),
        sep,
        body,
    )
        .prop_map(|(m, t, v, hs, sep, body)| {
            let mut out = format!("{m} {t} {v}{sep}").into_bytes();
            for h in hs {
                out.extend_from_slice(h.as_bytes());
                out.extend_from_slice(sep.as_bytes());
            }
            out.extend_from_slice(sep.as_bytes());
            out.extend(body);
            out
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => request(), 1 => prop::collection::vec(any::<u8>(), 0..600)]
}

#[test]
fn random_requests_never_break_the_proxy() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backend = rt.block_on(Backend::start("a"));
    let proxy = ProxyProc::start(
        dir.path(),
        &[
            "--header-timeout",
            "1s",
            "--response-timeout",
            "2s",
            "--max-body-bytes",
            "50000",
        ],
    );
    proxy.deploy("app", &backend.target(), &["--host", "app.test"]);
    let addr = proxy.http;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&input(), |bytes| {
            let answer = rt.block_on(raw(addr, &bytes, Duration::from_millis(1000)));
            eprintln!(
                "FUZZ {} {:?} => {:?}",
                status_of(&answer),
                String::from_utf8_lossy(&bytes[..bytes.len().min(150)]),
                answer.lines().last().unwrap_or("")
            );
            if !answer.is_empty() {
                prop_assert!(
                    answer.starts_with("HTTP/1."),
                    "malformed answer: {answer:?}"
                );
                let status = status_of(&answer);
                prop_assert!((100..600).contains(&status), "status {status}: {answer:?}");
                // The backend is healthy: a 502 would blame it for the client's mistake.
                prop_assert!(
                    status != 502,
                    "502 for {:?}: {answer}",
                    String::from_utf8_lossy(&bytes)
                );
                prop_assert!(
                    status != 500,
                    "internal error for {:?}: {answer}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            // The proxy still serves.
            let (status, body) = rt.block_on(get(addr, "app.test", "/"));
            prop_assert_eq!((status, body.as_str()), (200, "a"));
            Ok(())
        })
        .unwrap();
    let mut proxy = proxy;
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "the proxy exited"
    );
    proxy.kill();
}
