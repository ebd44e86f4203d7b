//! Engine-to-engine image copy onto a sandbox host's own dockerd (needs `make sandbox`).
//!
//! The host's engine is reached through an SSH-forwarded Docker socket. dhow's own SSH
//! tunnel lives in src/host/ (ssh/ + docker_tunnel.rs); this test uses the OpenSSH client's `-L` as a
//! stand-in for it so that the transfer code is tested against a real remote engine on its
//! own. Everything created is named `dhow-test/image-transfer*` and removed at the end.

#[path = "../src/error.rs"]
#[allow(dead_code)]
mod error;
// image/ calls the engine through docker/ (which uses only error.rs).
#[path = "../src/docker/mod.rs"]
#[allow(dead_code, unused_imports)]
mod docker;
#[path = "../src/image/mod.rs"]
mod image;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use image::build::BuildSpec;
use image::transfer::TransferEvent;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The sandbox's `env` file as a map.
fn sandbox_env() -> HashMap<String, String> {
    let state = std::env::var_os("SANDBOX_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/.state");
            if own.join("env").exists() {
                own
            } else {
                PathBuf::from("/work/main/sandbox/.state")
            }
        });
    let text = std::fs::read_to_string(state.join("env")).unwrap_or_else(|e| {
        panic!(
            "{}/env: {e}; start the sandbox first (make sandbox)",
            state.display()
        )
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// An OpenSSH process forwarding a local socket to the host's Docker socket.
struct Tunnel {
    child: Child,
    socket: PathBuf,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn open_tunnel(env: &HashMap<String, String>, host: &str) -> Tunnel {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket =
        std::env::temp_dir().join(format!("dhow-image-test-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let child = Command::new("ssh")
        .args([
            "-N",
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
        ])
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", env["SANDBOX_KNOWN_HOSTS"]))
        .arg("-i")
        .arg(&env["SANDBOX_KEY"])
        .args(["-p", &env["SANDBOX_SSH_PORT"]])
        .arg("-L")
        .arg(format!("{}:/var/run/docker.sock", socket.display()))
        .arg(format!("root@{host}"))
        .stdin(Stdio::null())
        .spawn()
        .expect("the OpenSSH client (ssh) is needed for this test");
    let mut tunnel = Tunnel { child, socket };
    for _ in 0..100 {
        if tunnel.socket.exists() {
            return tunnel;
        }
        if let Ok(Some(status)) = tunnel.child.try_wait() {
            panic!("ssh to {host} exited with {status} before forwarding the Docker socket");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("ssh to {host} did not forward the Docker socket");
}

async fn remove_image(docker: &Docker, name: &str) {
    // noprune: untagged parent layers may be the build cache of a build running beside this
    // test (same first steps); pruning them makes that build fail with "unable to find image".
    let options = RemoveImageOptionsBuilder::default()
        .force(true)
        .noprune(true)
        .build();
    let _ = docker.remove_image(name, Some(options), None).await;
}

/// A tunnel to the first sandbox host and a client for its engine.
async fn remote_engine() -> (Tunnel, Docker) {
    let env = sandbox_env();
    let host = env["SANDBOX_HOSTS"]
        .split_whitespace()
        .next()
        .expect("SANDBOX_HOSTS names a host")
        .to_string();
    let tunnel = open_tunnel(&env, &host);
    let remote = Docker::connect_with_unix(
        &tunnel.socket.display().to_string(),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .expect("the host's engine answers through the tunnel");
    (tunnel, remote)
}

#[tokio::test]
async fn an_image_streams_to_a_hosts_engine_once() {
    let (tunnel, remote) = remote_engine().await;
    let local = docker::connect_local().await.unwrap();

    // A unique image of a few MB, so the host cannot have it and several chunks flow.
    let reference = "dhow-test/image-transfer:v1";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /data/\n",
    )
    .unwrap();
    let nonce = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
    let filler: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.path().join("nonce.txt"), &nonce).unwrap();
    std::fs::write(dir.path().join("filler.bin"), &filler).unwrap();
    let spec = BuildSpec {
        context_dir: dir.path().to_path_buf(),
        tags: vec![reference.to_string()],
        ..Default::default()
    };
    let id = image::build::build(&local, &spec, |_| {}).await.unwrap();
    remove_image(&remote, reference).await;

    let mut events = Vec::new();
    let sent = image::transfer::copy(&local, &remote, reference, |e| events.push(e))
        .await
        .unwrap();
    assert!(sent > filler.len() as u64, "sent {sent} bytes");
    assert!(events.contains(&TransferEvent::Sent { bytes: sent }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TransferEvent::Message(m) if m.contains(reference))),
        "the host reported loading the image: {events:?}"
    );
    let on_host = remote.inspect_image(reference).await.unwrap();
    assert_eq!(on_host.id.as_deref(), Some(id.as_str()));

    // A second copy finds it there and sends nothing.
    let mut again = Vec::new();
    let sent = image::transfer::copy(&local, &remote, reference, |e| again.push(e))
        .await
        .unwrap();
    assert_eq!(sent, 0);
    assert_eq!(
        again,
        vec![TransferEvent::AlreadyPresent { id: id.clone() }]
    );

    remove_image(&remote, reference).await;
    remove_image(&local, reference).await;
    drop(tunnel);
}

#[tokio::test]
async fn a_scratch_image_loads_on_a_hosts_engine_without_any_registry() {
    let (tunnel, remote) = remote_engine().await;
    let reference = "dhow-test/image-transfer-scratch:v1";
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/bin/dhow-demo");
    assert!(
        binary.exists(),
        "run `make demo-bin` first (or `make test-image`)"
    );
    let mut spec = image::scratch::ScratchImage::from_file(&binary, reference).unwrap();
    spec.env = vec!["PORT=3000".into()];
    let archive = image::scratch::image_tar(&spec).unwrap();
    remove_image(&remote, reference).await;
    assert!(image::scratch::load(&remote, &archive, reference)
        .await
        .unwrap());
    let on_host = remote.inspect_image(reference).await.unwrap();
    assert_eq!(on_host.id.as_deref(), Some(archive.image_id.as_str()));
    assert_eq!(
        on_host.config.and_then(|c| c.entrypoint),
        Some(vec!["/dhow-demo".to_string()])
    );
    remove_image(&remote, reference).await;
    drop(tunnel);
}
