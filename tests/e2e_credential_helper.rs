//! End-to-end: registry credentials from a Docker credential helper. A stand-in helper
//! (`tests/standins/docker-credential-x-standin`, installed on PATH as `docker-credential-x`;
//! not a real credential store) answers for the sandbox registry, `$DOCKER_CONFIG/config.json`
//! names it in `credsStore`, and the deploy config has a registry user but no password: dhow
//! pushes with what the helper gave (with the registry on 127.0.0.1 the hosts then pull with
//! it too; on another loopback address they cannot reach it, see below, and the push alone is
//! checked). Without the helper's answer, the same push is refused by the registry.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::{config, text, version_on, Project, Sandbox};

struct Helper {
    _dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    docker_config: std::path::PathBuf,
    password_file: std::path::PathBuf,
    log: std::path::PathBuf,
}

fn install_helper(password: &str) -> Helper {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    let docker_config = dir.path().join("docker");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&docker_config).unwrap();
    let helper = bin.join("docker-credential-x");
    std::fs::copy(
        support::repo().join("tests/standins/docker-credential-x-standin"),
        &helper,
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        r#"{"auths":{},"credsStore":"x"}"#,
    )
    .unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, password).unwrap();
    let log = dir.path().join("asked");
    Helper {
        _dir: dir,
        bin,
        docker_config,
        password_file,
        log,
    }
}

fn deploy(p: &Project, h: &Helper, holds: &str, version: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        h.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = p.cmd(&["deploy", "--version", version]);
    cmd.env("PATH", path)
        .env("DOCKER_CONFIG", &h.docker_config)
        .env("STANDIN_SERVER", holds)
        .env("STANDIN_PASSWORD_FILE", &h.password_file)
        .env("STANDIN_LOG", &h.log);
    cmd.output().expect("run dhow")
}

#[test]
fn a_credential_helper_gives_the_registry_login() {
    let sb = Sandbox::load();
    let svc = "credhelper";
    let registry = sb.var("SANDBOX_REGISTRY").to_string();
    let password = sb.var("SANDBOX_REGISTRY_PASSWORD").to_string();
    let registry_toml = format!("[registry]\nserver = \"{registry}\"\nusername = \"dhow\"\n");
    let p = Project::new(&config(&sb, svc, &registry_toml));
    let h = install_helper(&password);

    // The helper holds nothing for this registry: the registry refuses the push.
    let out = deploy(&p, &h, "elsewhere.example", "ch0");
    assert!(
        !out.status.success(),
        "no credentials must fail: {}",
        text(&out)
    );
    let asked = std::fs::read_to_string(&h.log).unwrap_or_default();
    assert!(
        asked.lines().any(|l| l == registry),
        "helper asked: {asked}"
    );

    assert!(
        text(&out).contains("push"),
        "the push is what fails: {}",
        text(&out)
    );

    // It holds the sandbox registry's login: the push succeeds with it.
    // A version no earlier run pushed, so the tag list below shows this run's push.
    let version = format!(
        "ch{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let out = deploy(&p, &h, &registry, &version);
    let t = text(&out);
    assert!(!t.contains(&password), "the password reached the output");
    let tags = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-u", &format!("dhow:{password}")])
        .arg(format!("http://{registry}/v2/dhow-test/{svc}/tags/list"))
        .output()
        .expect("curl");
    let tags = String::from_utf8_lossy(&tags.stdout);
    assert!(
        tags.contains(&version),
        "registry tags: {tags}; dhow said: {t}"
    );
    if registry.starts_with("127.0.0.1:") || registry.starts_with("localhost:") {
        // The hosts pull through the SSH connection's forward of their loopback port.
        assert!(out.status.success(), "deploy with the helper failed: {t}");
        for host in sb.hosts() {
            assert_eq!(version_on(&sb, &host, svc), format!("demo {version}"));
        }
    } else {
        // A registry on another loopback address (a sandbox with SANDBOX_REGISTRY_ADDR set)
        // cannot be reached from the hosts: sshd binds remote forwards to 127.0.0.1 only.
        // The push above is what the helper's login made work.
        assert!(
            out.status.success() || t.contains("cannot reach registry"),
            "only the hosts' reach of the registry may fail: {t}"
        );
    }
}
