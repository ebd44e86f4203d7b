//! Registry-free delivery pieces against a sandbox host's real engine (needs the sandbox):
//! a local image is prepared into the layer cache and served by dhow's read-only registry
//! endpoint, reached by the host's engine through a reverse tunnel (OpenSSH's `-R` stands in
//! for dhow's own `forward_remote_port` here), and the engine pulls only what it lacks.
//! Everything created is named `dhow-test/delivery*` and removed at the end.

#[path = "../src/docker/mod.rs"]
#[allow(dead_code, unused_imports)]
mod docker;
#[path = "../src/error.rs"]
#[allow(dead_code)]
mod error;
#[path = "../src/image/mod.rs"]
mod image;

use bollard::Docker;
use image::layers::{cache::Cache, export, serve};
use image::scratch::{image_tar, load, ScratchImage};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

fn open_tunnel(env: &HashMap<String, String>, host: &str, reverse: &str) -> Tunnel {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = std::env::temp_dir().join(format!(
        "dhow-delivery-test-{}-{n}.sock",
        std::process::id()
    ));
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
        .arg("-R")
        .arg(reverse)
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

#[tokio::test]
async fn a_hosts_engine_pulls_from_the_endpoint_and_skips_what_it_has() {
    let env = sandbox_env();
    let host = env["SANDBOX_HOSTS"]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let local = docker::connect_local().await.unwrap();
    // 3 MB of bytes unique to this run: the host cannot have the layer.
    let seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let binary: Vec<u8> = (0..3_000_000u64)
        .map(|i| ((i.wrapping_add(seed)).wrapping_mul(6364136223846793005) >> 33) as u8)
        .collect();
    let image = ScratchImage {
        binary,
        path_in_image: "/app".into(),
        repo_tag: "dhow-test/delivery:v1".into(),
        entrypoint: vec!["/app".into()],
        cmd: vec![],
        env: vec![],
        labels: Default::default(),
        arch: "amd64".into(),
    };
    let archive = image_tar(&image).unwrap();
    load(&local, &archive, &image.repo_tag).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().to_path_buf()).unwrap();
    let prepared = export::prepare(&local, &image.repo_tag, &archive.image_id, &cache)
        .await
        .unwrap();
    let reg = Arc::new(serve::Registry {
        name: "dhow-test/delivery".into(),
        tag: "v1".into(),
        prepared,
        cache,
        served: AtomicU64::new(0),
        blobs_sent: Mutex::new(HashSet::new()),
    });
    let running = serve::start(reg.clone()).await.unwrap();
    let port = 20000 + (std::process::id() % 20000) as u16;
    let tunnel = open_tunnel(&env, &host, &format!("127.0.0.1:{port}:{}", running.addr));
    let remote = Docker::connect_with_unix(
        &tunnel.socket.display().to_string(),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap();
    let name = format!("127.0.0.1:{port}/dhow-test/delivery:v1");
    let _ = remote
        .remove_image(
            &name,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    image::registry::pull(&remote, &name, None, |_| {})
        .await
        .unwrap();
    let pulled = remote.inspect_image(&name).await.unwrap();
    assert_eq!(pulled.id.as_deref(), Some(archive.image_id.as_str()));
    // Everything was new to the host: the manifest and every blob it names went out whole.
    let first = reg.served.load(Ordering::Relaxed);
    let blobs: u64 = image::layers::manifest::referenced(&reg.prepared.manifest)
        .iter()
        .map(|d| reg.cache.blob(d).unwrap().size)
        .sum();
    assert_eq!(first, blobs + reg.prepared.manifest.len() as u64);
    assert!(blobs > 100_000, "{blobs}");
    // Pulled again: the engine has every blob and fetches the manifest only.
    image::registry::pull(&remote, &name, None, |_| {})
        .await
        .unwrap();
    let again = reg.served.load(Ordering::Relaxed) - first;
    assert!(again < 4_000, "{again}");
    let _ = remote
        .remove_image(
            &name,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    let _ = local
        .remove_image(
            &image.repo_tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}
