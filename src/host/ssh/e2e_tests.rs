//! End-to-end tests of the library API (`Session`, exec with stdin, unix-socket channels)
//! against the sandbox's real sshd and dockerd. Built only with `--features e2e`; they read
//! `sandbox/.state/env` (or DHOW_SANDBOX_STATE, a folder or the env file itself).

use super::{HostKeyPolicy, Session, SshOptions, SshTarget};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;

fn sandbox() -> (Vec<String>, SshOptions) {
    let state = std::env::var("DHOW_SANDBOX_STATE").unwrap_or_else(|_| "sandbox/.state".into());
    let state = PathBuf::from(state);
    let env_file = if state.is_dir() {
        state.join("env")
    } else {
        state
    };
    let text = std::fs::read_to_string(&env_file)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make sandbox`)", env_file.display()));
    let vars: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    let opts = SshOptions {
        user: "root".into(),
        port: vars["SANDBOX_SSH_PORT"].parse().unwrap(),
        keys: vec![PathBuf::from(vars["SANDBOX_KEY"])],
        use_agent: false,
        known_hosts: PathBuf::from(vars["SANDBOX_KNOWN_HOSTS"]),
        policy: HostKeyPolicy::Strict,
        ..Default::default()
    };
    let hosts = vars["SANDBOX_HOSTS"]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (hosts, opts)
}

async fn session() -> Session {
    let (hosts, opts) = sandbox();
    Session::connect(&SshTarget::host(hosts[0].clone()), &opts)
        .await
        .unwrap()
}

#[tokio::test]
async fn stdin_reaches_the_command_byte_for_byte() {
    let session = session().await;
    // 3 MB of non-text bytes: larger than the channel window, so flow control is exercised.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = format!("/tmp/dhow-e2e-stdin-{}", std::process::id());
    let out = session
        .exec_with_stdin(&format!("umask 077; cat > {path}"), &data)
        .await
        .unwrap();
    assert_eq!(out.status, 0, "{out:?}");
    let out = session
        .exec(&format!(
            "sha256sum {path} | cut -d' ' -f1; stat -c %a {path}; rm -f {path}"
        ))
        .await
        .unwrap();
    let mut lines = out.stdout.lines();
    let expected = hex::encode(Sha256::digest(&data));
    assert_eq!(lines.next(), Some(expected.as_str()));
    assert_eq!(lines.next(), Some("600"));
}

#[tokio::test]
async fn write_file_keeps_content_off_the_command_line_and_sets_the_mode() {
    let session = session().await;
    let path = format!("/tmp/dhow e2e 'env' {}", std::process::id());
    let secret = b"PASSWORD=s3cr3t-value\n";
    session.write_file(&path, secret, 0o600).await.unwrap();
    let quoted = crate::host::shell::quote(&path);
    let out = session
        .exec(&format!(
            "cat {quoted}; stat -c %a {quoted}; rm -f {quoted}"
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout, "PASSWORD=s3cr3t-value\n600\n");
    let err = session
        .write_file("/nonexistent-dir/x", b"x", 0o644)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot write /nonexistent-dir/x"),
        "{err:#}"
    );
}

#[tokio::test]
async fn exit_status_and_streams_are_kept_apart() {
    let session = session().await;
    let out = session
        .exec("echo out; echo err >&2; printf 'no newline'; exit 3")
        .await
        .unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, "out\nno newline\n");
    assert_eq!(out.stderr, "err\n");
}

#[tokio::test]
async fn one_connection_carries_many_channels_at_once() {
    let session = session().await;
    let runs = (0..20).map(|i| {
        let s = session.clone();
        async move { s.exec(&format!("echo {i}")).await.unwrap().stdout }
    });
    let outs = futures::future::join_all(runs).await;
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out, &format!("{i}\n"));
    }
    // And the Docker socket over the same connection, as raw HTTP.
    let req = hyper::Request::get("http://docker/_ping")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = session
        .http_unix("/var/run/docker.sock", req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    assert_eq!(&body.to_bytes()[..], b"OK");
    // Many Docker API requests at once, each on its own channel of the same connection.
    let docker = crate::host::docker_tunnel::connect(&session).await.unwrap();
    let pings = (0..20).map(|_| docker.ping());
    for ping in futures::future::join_all(pings).await {
        assert_eq!(ping.unwrap(), "OK");
    }
    // A socket that does not exist is a clear error naming it.
    let Err(err) = session.open_unix("/run/nothing-here.sock").await else {
        panic!("opened a socket that does not exist");
    };
    assert!(
        format!("{err:#}").contains("/run/nothing-here.sock"),
        "{err:#}"
    );
}
