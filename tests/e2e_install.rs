//! End-to-end: dhow as `cargo install` gives it, used away from this repository. The test
//! installs dhow into an empty folder (`cargo install --path . --root DIR --debug --offline`,
//! the proxy binaries embedded by build.rs), and from a project folder that holds only a config
//! and an app it deploys to a sandbox host whose proxy container and images were removed: the
//! installed dhow boots the proxy from the binary it carries for the host's architecture. Then
//! `dhow proxy binary` gives the aarch64 proxy (a static aarch64 executable, run under
//! qemu-aarch64-static where that is installed), an arm64 app image is refused on the amd64
//! host naming both architectures, and `proxy.image` boots a proxy image of the team's own.
//! The host is left with this dhow's own proxy.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{config_with_servers, http_get, text, Sandbox};

/// The installed dhow (built once per test run, into target/e2e-install).
fn install() -> PathBuf {
    let repo = support::repo();
    let root = repo.join("target/e2e-install/root");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO"))
        .args(["install", "--path"])
        .arg(&repo)
        .arg("--root")
        .arg(&root)
        .args([
            "--debug",
            "--offline",
            "--locked",
            "--force",
            "--bin",
            "dhow",
        ])
        // Its own target folder: the tests' dhow in target/debug is not touched. The nested
        // proxy builds share target/ with `make proxy-static`.
        .env("CARGO_TARGET_DIR", repo.join("target/e2e-install/build"))
        .env("DHOW_PROXY_TARGET_DIR", repo.join("target"))
        .env_remove("DHOW_EMBED_PROXY")
        .output()
        .expect("run cargo install");
    eprintln!("[{:.1}s] cargo install", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "cargo install failed:\n{}",
        text(&out)
    );
    let warnings = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !warnings.contains("dhow-proxy embedded"),
        "the install skipped an architecture (install the aarch64 target and cross-compiler, \
         as sandbox/deps.sh does):\n{warnings}"
    );
    root.join("bin/dhow")
}

fn run(dhow: &Path, dir: &Path, args: &[&str]) -> Output {
    let started = std::time::Instant::now();
    let out = Command::new(dhow)
        .args(args)
        .current_dir(dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("DHOW_PROXY_BINARY")
        .output()
        .expect("run the installed dhow");
    eprintln!(
        "[{:.1}s] dhow {}",
        started.elapsed().as_secs_f64(),
        args.join(" ")
    );
    out
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    text(&out)
}

/// A project folder with only config/deploy.toml and the demo app (a Dockerfile and its
/// static binary): nothing of this repository next to it.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("dhow-install-")
        .tempdir()
        .expect("tempdir");
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::create_dir_all(dir.path().join("app/bin")).unwrap();
    std::fs::write(dir.path().join("config/deploy.toml"), config).unwrap();
    let demo = support::repo().join("demo");
    std::fs::copy(demo.join("Dockerfile"), dir.path().join("app/Dockerfile")).unwrap();
    std::fs::copy(
        demo.join("bin/dhow-demo"),
        dir.path().join("app/bin/dhow-demo"),
    )
    .expect("demo/bin/dhow-demo missing: run `make demo-bin` (make test does)");
    dir
}

/// The image the host's proxy container runs.
fn proxy_image(sb: &Sandbox, i: usize) -> String {
    text(&sb.docker_exec(
        &sb.container(i),
        "docker inspect -f '{{.Config.Image}}' dhow-proxy 2>/dev/null",
    ))
    .trim()
    .to_string()
}

/// Remove host i's proxy container and every dhow-proxy image (routes stay in the volume).
fn wipe_proxy(sb: &Sandbox, i: usize) {
    sb.docker_exec(
        &sb.container(i),
        "docker rm -f dhow-proxy dhow-proxy-ports >/dev/null 2>&1; \
         docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^dhow-proxy(-e2e)?:' | \
         xargs -r docker rmi -f >/dev/null",
    );
    assert_eq!(proxy_image(sb, i), "", "the proxy is still there");
}

#[test]
fn an_installed_dhow_boots_its_own_proxy_checks_architectures_and_takes_proxy_image() {
    let sb = Sandbox::load();
    let dhow = install();
    let host_i = 2;
    let host = sb.hosts()[host_i - 1].clone();
    let servers = format!("servers = [\"{host}\"]");
    let p = project(&config_with_servers(&sb, "installed", &servers, ""));

    // 1. A host without the proxy: the installed dhow boots it from the binary it carries.
    wipe_proxy(&sb, host_i);
    let out = ok(
        run(&dhow, p.path(), &["deploy", "--version", "v1"]),
        "deploy",
    );
    let amd64 = p.path().join("dhow-proxy-amd64");
    let wrote = ok(
        run(
            &dhow,
            p.path(),
            &[
                "proxy",
                "binary",
                "--arch",
                "amd64",
                "-o",
                "dhow-proxy-amd64",
            ],
        ),
        "proxy binary --arch amd64",
    );
    let digest = wrote
        .split("sha256 ")
        .nth(1)
        .and_then(|r| r.get(..12))
        .unwrap_or_else(|| panic!("no digest in: {wrote}"))
        .to_string();
    assert_eq!(
        proxy_image(&sb, host_i),
        format!("dhow-proxy:{}-{digest}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    let (status, body) = http_get(&sb.http_addr(&host), "installed.test", "/").expect("GET");
    assert_eq!((status, body.trim()), (200, "demo v1"));
    assert!(amd64.is_file());

    // 2. The aarch64 proxy it carries is a static aarch64 executable (and runs, emulated).
    ok(
        run(
            &dhow,
            p.path(),
            &[
                "proxy",
                "binary",
                "--arch",
                "arm64",
                "-o",
                "dhow-proxy-arm64",
            ],
        ),
        "proxy binary --arch arm64",
    );
    let arm64 = std::fs::read(p.path().join("dhow-proxy-arm64")).unwrap();
    assert_eq!(&arm64[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([arm64[18], arm64[19]]),
        0xb7,
        "EM_AARCH64"
    );
    if let Ok(out) = Command::new("qemu-aarch64-static")
        .arg(p.path().join("dhow-proxy-arm64"))
        .arg("--version")
        .output()
    {
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("dhow-proxy"), "{}", text(&out));
    }

    // 3. builder.arch that the engine's classic builder cannot honour is an error at build time;
    // an app image for another architecture (here built on an arm64 base) is refused on the
    // host before any container is made of it.
    let arm = project(&config_with_servers(&sb, "installed", &servers, ""));
    let cfg = std::fs::read_to_string(arm.path().join("config/deploy.toml")).unwrap();
    let toml = arm.path().join("config/deploy.toml");
    std::fs::write(
        &toml,
        cfg.replace("[builder]\n", "[builder]\narch = \"arm64\"\n"),
    )
    .unwrap();
    let out = run(&dhow, arm.path(), &["deploy", "--version", "v2-arm"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "an amd64 build passed for arm64:\n{said}"
    );
    assert!(said.contains("builder.arch asks for linux/arm64"), "{said}");
    load_arm64_base();
    std::fs::write(&toml, cfg).unwrap();
    std::fs::write(
        arm.path().join("app/Dockerfile"),
        "FROM dhow-e2e-arm64:base\nLABEL e2e=arm64\n",
    )
    .unwrap();
    let out = run(&dhow, arm.path(), &["deploy", "--version", "v2-arm"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "an arm64 image deployed to amd64:\n{said}"
    );
    for part in ["linux/arm64", "linux/amd64", &host] {
        assert!(said.contains(part), "the error lacks {part}:\n{said}");
    }
    let (status, body) = http_get(&sb.http_addr(&host), "installed.test", "/").expect("GET");
    assert_eq!((status, body.trim()), (200, "demo v1"), "v1 keeps serving");

    // 4. proxy.image: a proxy image of the team's own (here built locally from the binary dhow
    // carries and proxy/Dockerfile; the host gets it over SSH as it would from a registry).
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(&amd64, ctx.path().join("dhow-proxy")).unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", "dhow-proxy-e2e:custom", "-f"])
        .arg(support::repo().join("proxy/Dockerfile"))
        .arg(ctx.path())
        .output()
        .expect("docker build");
    assert!(built.status.success(), "{}", text(&built));
    let custom = project(&config_with_servers(&sb, "installed", &servers, ""));
    let cfg = std::fs::read_to_string(custom.path().join("config/deploy.toml")).unwrap();
    std::fs::write(
        custom.path().join("config/deploy.toml"),
        cfg.replace("[proxy]\n", "[proxy]\nimage = \"dhow-proxy-e2e:custom\"\n"),
    )
    .unwrap();
    ok(
        run(&dhow, custom.path(), &["proxy", "reboot"]),
        "proxy reboot (proxy.image)",
    );
    assert_eq!(proxy_image(&sb, host_i), "dhow-proxy-e2e:custom");
    let (status, body) = http_get(&sb.http_addr(&host), "installed.test", "/").expect("GET");
    assert_eq!((status, body.trim()), (200, "demo v1"), "routes come back");

    // Back to this dhow's own proxy (what the other tests expect on this host).
    ok(run(&dhow, p.path(), &["proxy", "reboot"]), "proxy reboot");
    assert!(proxy_image(&sb, host_i).starts_with("dhow-proxy:"));
    ok(run(&dhow, p.path(), &["remove", "-y"]), "remove");
    let _ = Command::new("docker")
        .args(["rmi", "-f", "dhow-proxy-e2e:custom", "dhow-e2e-arm64:base"])
        .output();
}

/// Load `dhow-e2e-arm64:base` into this machine's engine: a one-layer image (the demo binary)
/// whose config says arm64 (this engine cannot build one: no BuildKit, no emulation).
fn load_arm64_base() {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| hex::encode(Sha256::digest(b));
    let entry = |t: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        t.append_data(&mut h, name, data).unwrap();
    };
    let demo = std::fs::read(support::repo().join("demo/bin/dhow-demo")).unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    entry(&mut layer, "dhow-demo", &demo, 0o755);
    let layer = layer.into_inner().unwrap();
    let config = serde_json::json!({
        "architecture": "arm64", "os": "linux",
        "config": {"Entrypoint": ["/dhow-demo"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(&layer))]},
    })
    .to_string();
    let config_name = format!("{}.json", hex(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["dhow-e2e-arm64:base"], "Layers": ["layer.tar"],
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    entry(&mut archive, &config_name, config.as_bytes(), 0o644);
    entry(&mut archive, "layer.tar", &layer, 0o644);
    entry(&mut archive, "manifest.json", manifest.as_bytes(), 0o644);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, archive.into_inner().unwrap()).unwrap();
    let out = Command::new("docker")
        .arg("load")
        .arg("-i")
        .arg(&path)
        .output()
        .expect("docker load");
    assert!(out.status.success(), "{}", text(&out));
}
