//! End-to-end: registry-free deploys send each host only the layers it lacks. An app with a
//! large base layer, the demo binary and a code layer is deployed by the real `dhow` to both
//! sandbox hosts, each reached through a counting TCP relay in front of its sshd (so the
//! bytes the host received over SSH are measured outside dhow). After a one-line change, each
//! host gets less than 2x the changed layer, by dhow's count (`image_delivery` events) and by
//! the relay's. Then a delivery whose SSH connection is cut half way through a 12 MB layer
//! fails, naming the host, and the re-run completes sending only what had not arrived (the
//! staged part is kept on the host). A host whose sshd refuses remote forwards still gets only
//! the layer (staging needs no forward); one that also has no `docker` command gets the whole
//! image streamed, and dhow says so and why.
//!
//! Run: the sandbox up, `make demo-bin`, then
//! `cargo test --features e2e --test e2e_layers -- --nocapture`.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::{config_with_servers, text, version_on, Project, Sandbox};

/// A TCP relay to a host's sshd that counts the bytes going to the host and, once `limit` of
/// them went through, cuts every connection it carries.
struct Relay {
    port: u16,
    to_host: Arc<AtomicU64>,
    limit: Arc<AtomicU64>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let to_host = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(AtomicU64::new(u64::MAX));
        let (count, lim) = (to_host.clone(), limit.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let up = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (count, lim) = (count.clone(), lim.clone());
                std::thread::spawn(move || pipe(up.0, up.1, Some((count, lim))));
                std::thread::spawn(move || pipe(server, client, None));
            }
        });
        Relay {
            port,
            to_host,
            limit,
        }
    }

    fn received(&self) -> u64 {
        self.to_host.load(Ordering::SeqCst)
    }
}

type Counted = Option<(Arc<AtomicU64>, Arc<AtomicU64>)>;

fn pipe(mut from: TcpStream, mut into: TcpStream, counted: Counted) {
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((count, limit)) = &counted {
            if count.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > limit.load(Ordering::SeqCst)
            {
                break;
            }
        }
        if into.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = into.shutdown(std::net::Shutdown::Both);
}

/// `n` bytes no host has seen (seeded per run and per use).
fn noise(n: usize, salt: u64) -> Vec<u8> {
    let mut x = (std::process::id() as u64) << 20 ^ salt ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write_bytes(p: &Project, rel: &str, bytes: &[u8]) {
    let path = p.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The `image_delivery` event of each host of a `--json` run, by host.
fn deliveries(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "image_delivery")
        .collect()
}

/// Compressed sizes of the layers of `image_id` in the layer cache under `cache`, in order.
fn layer_sizes(cache: &Path, image_id: &str) -> Vec<(String, u64)> {
    let hex = image_id.trim_start_matches("sha256:");
    let manifest = std::fs::read(cache.join("dhow/images").join(hex))
        .unwrap_or_else(|e| panic!("no cached manifest for {image_id}: {e}"));
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn local_image_id(image: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Id}}", image])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn only_changed_layers_travel_and_a_cut_delivery_completes_on_rerun() {
    let sb = Sandbox::load();
    let svc = "layers";
    let hosts = sb.hosts();
    let relays: Vec<Relay> = hosts
        .iter()
        .map(|h| Relay::start(format!("{h}:{}", sb.ssh_port())))
        .collect();
    let servers: Vec<String> = relays
        .iter()
        .map(|r| format!("\"127.0.0.1:{}\"", r.port))
        .collect();
    let known = tempfile::NamedTempFile::new().unwrap();
    let cfg = config_with_servers(&sb, svc, &format!("servers = [{}]", servers.join(", ")), "")
        .replace(
            "[builder]\ncontext = \"app\"\n",
            "[builder]\ncontext = \".\"\n",
        )
        .replace(
            &format!("known_hosts = \"{}\"\n", sb.var("SANDBOX_KNOWN_HOSTS")),
            &format!(
                "known_hosts = \"{}\"\nknown_hosts_policy = \"accept-new\"\n",
                known.path().display()
            ),
        );
    let p = Project::new(&cfg);
    let cache = tempfile::tempdir().unwrap();
    let dhow = |args: &[&str]| {
        let started = std::time::Instant::now();
        let out = p
            .cmd(args)
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .unwrap();
        eprintln!(
            "[{:.1}s] dhow {}",
            started.elapsed().as_secs_f64(),
            args.join(" ")
        );
        out
    };
    p.write(
        "Dockerfile",
        "FROM scratch\nCOPY base.bin /base.bin\nCOPY app/bin/dhow-demo /dhow-demo\n\
         COPY code/ /code/\nEXPOSE 3000\nENTRYPOINT [\"/dhow-demo\"]\n",
    );
    write_bytes(&p, "base.bin", &noise(24_000_000, 1));
    write_bytes(&p, "code/lib.bin", &noise(1_500_000, 2));
    p.write("code/version.txt", "one\n");
    let stamp = std::process::id();
    let (v1, v2, v3) = (
        format!("l1-{stamp}"),
        format!("l2-{stamp}"),
        format!("l3-{stamp}"),
    );

    // v1: everything is new to both hosts.
    let first = dhow(&["deploy", "--json", "--version", &v1]);
    assert!(first.status.success(), "{}", text(&first));
    let d1 = deliveries(&first.stdout);
    assert_eq!(d1.len(), 2, "{}", text(&first));
    for d in &d1 {
        assert_eq!(d["how"], "layers", "{d}");
        assert_eq!(d["layers_sent"], d["layers_total"], "{d}");
        assert!(d["bytes"].as_u64().unwrap() > 24_000_000, "{d}");
    }

    // v2: one line changed in the code layer.
    p.write("code/version.txt", "two\n");
    let before: Vec<u64> = relays.iter().map(Relay::received).collect();
    let second = dhow(&["deploy", "--json", "--version", &v2]);
    assert!(second.status.success(), "{}", text(&second));
    let received: Vec<u64> = relays
        .iter()
        .zip(&before)
        .map(|(r, b)| r.received() - b)
        .collect();
    let old = layer_sizes(
        cache.path(),
        &local_image_id(&format!("dhow-test/{svc}:{v1}")),
    );
    let new = layer_sizes(
        cache.path(),
        &local_image_id(&format!("dhow-test/{svc}:{v2}")),
    );
    let changed: u64 = new
        .iter()
        .filter(|l| !old.contains(l))
        .map(|(_, size)| size)
        .sum();
    assert!(
        changed > 1_000_000,
        "the code layer changed: {new:?} vs {old:?}"
    );
    let d2 = deliveries(&second.stdout);
    assert_eq!(d2.len(), 2, "{}", text(&second));
    for (d, got) in d2.iter().zip(&received) {
        let counted = d["bytes"].as_u64().unwrap();
        eprintln!(
            "one-line change: changed layer {changed} B; dhow counted {counted} B, the host \
             received {got} B over SSH (the deploy's other traffic included)"
        );
        assert_eq!(d["how"], "layers", "{d}");
        assert_eq!(d["layers_sent"], 1, "{d}");
        assert!(counted >= changed && counted < 2 * changed, "{d}");
        // The host's own count: the SSH stream into it carried the layer once, not the image.
        assert!(
            *got >= changed && *got < 2 * changed,
            "{got} B for {changed} B"
        );
    }
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(version_on(&sb, h, svc), format!("demo {v2}"));
        // Only the deploy's name is left on the image: no temporary tag or digest.
        let refs = text(&sb.docker_exec(
            &sb.container(i + 1),
            &format!(
                "docker image inspect -f '{{{{.RepoTags}}}} {{{{.RepoDigests}}}}' dhow-test/{svc}:{v2}"
            ),
        ));
        assert!(!refs.contains("dhow-delivery"), "{refs}");
        assert!(refs.contains(&format!("dhow-test/{svc}:{v2}")), "{refs}");
    }

    // v3: a new 12 MB code layer; host 2's SSH connection is cut after 4 MB of it.
    write_bytes(&p, "code/lib.bin", &noise(12_000_000, 3));
    let cut = &relays[1];
    cut.limit
        .store(cut.received() + 4_000_000, Ordering::SeqCst);
    let failed = dhow(&["deploy", "--version", &v3]);
    let msg = text(&failed);
    assert!(!failed.status.success(), "a cut delivery must fail:\n{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", cut.port)),
        "names the host:\n{msg}"
    );
    cut.limit.store(u64::MAX, Ordering::SeqCst);
    let at_rerun = cut.received();
    let again = dhow(&["deploy", "--json", "--version", &v3]);
    assert!(again.status.success(), "re-run:\n{}", text(&again));
    let rerun_received = cut.received() - at_rerun;
    let d3 = deliveries(&again.stdout);
    let cut_name = format!("127.0.0.1:{}", cut.port);
    let resumed = d3
        .iter()
        .find(|d| d["host"] == cut_name.as_str())
        .unwrap_or_else(|| panic!("no delivery for {cut_name}: {d3:?}"))
        .clone();
    let big = layer_sizes(
        cache.path(),
        &local_image_id(&format!("dhow-test/{svc}:{v3}")),
    )
    .into_iter()
    .filter(|l| !new.contains(l))
    .map(|(_, size)| size)
    .max()
    .unwrap_or(0);
    eprintln!(
        "re-run after the cut: new layer {big} B; dhow sent {} B, {} B were on the host \
         already; host 2 received {rerun_received} B over SSH",
        resumed["bytes"], resumed["resumed_bytes"]
    );
    assert_eq!(resumed["how"], "layers", "{resumed}");
    let kept = resumed["resumed_bytes"].as_u64().unwrap_or(0);
    let sent = resumed["bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        kept > 1_000_000,
        "the cut part stays on the host: {resumed}"
    );
    // Only what had not arrived travels again (plus the small config and manifest).
    assert!(
        sent + kept >= big && sent + kept < big + 100_000,
        "{resumed}"
    );
    assert!(
        rerun_received < big,
        "{rerun_received} B for a {big} B layer"
    );
    for h in &hosts {
        assert_eq!(version_on(&sb, h, svc), format!("demo {v3}"));
    }

    // v4: host 2's sshd refuses remote port forwards (`AllowTcpForwarding local`; dhow's own
    // Docker socket tunnel still works): staging needs no forward, so it still gets only the
    // changed layer.
    p.write("code/version.txt", "four\n");
    let v4 = format!("l4-{stamp}");
    let refused = NoForwarding::on(&sb, 2, false);
    let fourth = dhow(&["deploy", "--json", "--version", &v4]);
    drop(refused);
    assert!(fourth.status.success(), "{}", text(&fourth));
    let d4 = deliveries(&fourth.stdout);
    let on = |d: &[Value], relay: &Relay| {
        let name = format!("127.0.0.1:{}", relay.port);
        d.iter()
            .find(|d| d["host"] == name.as_str())
            .unwrap_or_else(|| panic!("no delivery for {name}: {d:?}"))
            .clone()
    };
    let two = on(&d4, &relays[1]);
    assert_eq!(two["how"], "layers", "{two}");
    assert_eq!(two["layers_sent"], 1, "{two}");

    // v5: host 2 also has no `docker` command, so neither staging nor the engine's pull can
    // work: it gets the whole image, and dhow says why; host 1 still gets the layer only.
    p.write("code/version.txt", "five\n");
    let v5 = format!("l5-{stamp}");
    let refused = NoForwarding::on(&sb, 2, true);
    let fifth = dhow(&["deploy", "--json", "--version", &v5]);
    drop(refused);
    assert!(fifth.status.success(), "{}", text(&fifth));
    let d5 = deliveries(&fifth.stdout);
    let (one, two) = (on(&d5, &relays[0]), on(&d5, &relays[1]));
    assert_eq!(one["how"], "layers", "{one}");
    assert_eq!(two["how"], "stream", "{two}");
    let why = two["why"].as_str().unwrap_or("");
    assert!(why.contains("AllowTcpForwarding"), "{two}");
    assert!(why.contains("no `docker` command"), "{two}");
    assert!(two["bytes"].as_u64().unwrap() > 24_000_000, "{two}");
    for h in &hosts {
        assert_eq!(version_on(&sb, h, svc), format!("demo {v5}"));
    }
    let _ = dhow(&["remove", "-y"]);
}

/// Host `i`'s sshd refuses remote port forwards (new connections), and with `no_cli` its
/// `docker` command is moved away, until this is dropped.
struct NoForwarding<'a> {
    sb: &'a Sandbox,
    i: usize,
    no_cli: bool,
}

const NO_FORWARDING: &str = "/etc/ssh/sshd_config.d/dhow-test-no-forwarding.conf";
const HIDDEN_CLI: &str = "/usr/bin/docker.dhow-test-hidden";

impl<'a> NoForwarding<'a> {
    fn on(sb: &'a Sandbox, i: usize, no_cli: bool) -> NoForwarding<'a> {
        let hide = if no_cli {
            format!(" && mv /usr/bin/docker {HIDDEN_CLI}")
        } else {
            String::new()
        };
        let out = sb.docker_exec(
            &sb.container(i),
            &format!(
                "echo 'AllowTcpForwarding local' >{NO_FORWARDING} && kill -HUP \"$(cat /run/sshd.pid)\"{hide}"
            ),
        );
        assert!(out.status.success(), "{}", text(&out));
        std::thread::sleep(std::time::Duration::from_millis(500));
        NoForwarding { sb, i, no_cli }
    }
}

impl Drop for NoForwarding<'_> {
    fn drop(&mut self) {
        let show = if self.no_cli {
            format!(" && mv {HIDDEN_CLI} /usr/bin/docker")
        } else {
            String::new()
        };
        let _ = self.sb.docker_exec(
            &self.sb.container(self.i),
            &format!("rm -f {NO_FORWARDING} && kill -HUP \"$(cat /run/sshd.pid)\"{show}"),
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
