//! Image module against the real local Docker engine (and the sandbox registry on
//! 127.0.0.1:5000): build with .dockerignore, build args, target and labels; clear build
//! errors; engine-to-engine copy; registry push/pull with right and wrong passwords; a
//! single-binary image loaded and served over HTTP.
//!
//! Run: `make test-image` (builds the static demo binary first), or
//! `cargo test --features e2e --test image_local`. Everything created is named
//! `dhow-test/...` / `dhow-image-helper-test...` and removed at the end of each test.

// The `dhow` crate is a binary; its image module (and the error and docker modules it uses) are
// compiled into this test directly.
#[path = "../src/error.rs"]
#[allow(dead_code)]
mod error;
// image/ calls the engine through docker/ (which uses only error.rs).
#[path = "../src/docker/mod.rs"]
#[allow(dead_code, unused_imports)]
mod docker;
#[path = "../src/image/mod.rs"]
mod image;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use image::build::{BuildEvent, BuildSpec};
use image::credentials::Login;
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

async fn local() -> Docker {
    docker::connect_local()
        .await
        .expect("the local Docker engine must be running")
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

async fn remove_container(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(name, Some(options)).await;
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The files of an image's filesystem: create a container (never started; FROM scratch has
/// no shell) and read its export.
async fn files_of(docker: &Docker, image_ref: &str, container: &str) -> BTreeMap<String, String> {
    remove_container(docker, container).await;
    let options = CreateContainerOptionsBuilder::default()
        .name(container)
        .build();
    let body = ContainerCreateBody {
        image: Some(image_ref.to_string()),
        cmd: Some(vec!["/none".to_string()]),
        ..Default::default()
    };
    docker.create_container(Some(options), body).await.unwrap();
    let chunks: Vec<bytes::Bytes> = docker
        .export_container(container)
        .map(|c| c.unwrap())
        .collect()
        .await;
    remove_container(docker, container).await;
    let data = chunks.concat();
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(&data[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut text = String::new();
        let _ = entry.read_to_string(&mut text);
        out.insert(name, text);
    }
    out
}

fn build_context(root: &Path) {
    write(
        root,
        "Dockerfile",
        "FROM scratch AS base\n\
         ARG GREETING=none\n\
         LABEL greeting=$GREETING\n\
         COPY . /ctx/\n\
         FROM base AS final\n\
         LABEL stage=final\n",
    );
    write(
        root,
        ".dockerignore",
        "secret.txt\nlogs\n*.tmp\n!keep.tmp\n**/cache\n",
    );
    write(root, "keep.txt", "kept");
    write(root, "secret.txt", "must not be sent");
    write(root, "logs/app.log", "must not be sent");
    write(root, "drop.tmp", "must not be sent");
    write(root, "keep.tmp", "re-included");
    write(root, "src/deep/cache/blob", "must not be sent");
    write(root, "src/main.rs", "fn main() {}");
}

#[tokio::test]
async fn build_honours_dockerignore_build_args_target_and_labels() {
    let docker = local().await;
    let dir = tempfile::tempdir().unwrap();
    build_context(dir.path());
    let spec = BuildSpec {
        context_dir: dir.path().to_path_buf(),
        source: Default::default(),
        dockerfile: String::new(),
        target: Some("base".into()),
        args: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        secrets: vec![],
        secret_values: vec![],
        tags: vec![
            "dhow-test/image-build:v1".into(),
            "dhow-test/image-build:latest".into(),
        ],
        labels: BTreeMap::from([("dhow.service".to_string(), "image-test".to_string())]),
        arch: Some("amd64".into()),
    };
    let mut lines = Vec::new();
    let id = image::build::build(&docker, &spec, |event| {
        if let BuildEvent::Output(line) = event {
            lines.push(line)
        }
    })
    .await
    .unwrap();
    assert!(
        lines.iter().any(|l| l.contains("COPY . /ctx/")),
        "build output reached the callback: {lines:?}"
    );

    let inspected = docker
        .inspect_image("dhow-test/image-build:v1")
        .await
        .unwrap();
    assert_eq!(inspected.id.as_deref(), Some(id.as_str()));
    let latest = docker
        .inspect_image("dhow-test/image-build:latest")
        .await
        .unwrap();
    assert_eq!(latest.id, inspected.id, ":latest tags the same image");
    assert_eq!(inspected.architecture.as_deref(), Some("amd64"));
    let labels: HashMap<String, String> =
        inspected.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("greeting").map(String::as_str), Some("hello"));
    assert_eq!(
        labels.get("dhow.service").map(String::as_str),
        Some("image-test")
    );
    assert!(
        !labels.contains_key("stage"),
        "target `base` must stop before the final stage: {labels:?}"
    );

    let files = files_of(
        &docker,
        "dhow-test/image-build:v1",
        "dhow-image-helper-test-build",
    )
    .await;
    assert_eq!(files.get("ctx/keep.txt").map(String::as_str), Some("kept"));
    assert_eq!(
        files.get("ctx/keep.tmp").map(String::as_str),
        Some("re-included")
    );
    assert!(files.contains_key("ctx/src/main.rs"), "{files:?}");
    assert!(files.contains_key("ctx/Dockerfile"));
    for ignored in [
        "ctx/secret.txt",
        "ctx/logs/app.log",
        "ctx/drop.tmp",
        "ctx/src/deep/cache/blob",
    ] {
        assert!(
            !files.contains_key(ignored),
            "{ignored} was sent: {files:?}"
        );
    }
    assert!(
        !files.keys().any(|k| k.starts_with("ctx/logs")),
        "{files:?}"
    );

    remove_image(&docker, "dhow-test/image-build:v1").await;
    remove_image(&docker, "dhow-test/image-build:latest").await;
}

#[tokio::test]
async fn a_broken_dockerfile_gives_a_clear_error() {
    let docker = local().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nFORM oops\n");
    let spec = BuildSpec {
        context_dir: dir.path().to_path_buf(),
        tags: vec!["dhow-test/image-broken:v1".into()],
        ..Default::default()
    };
    let err = image::build::build(&docker, &spec, |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    eprintln!("broken Dockerfile:\n{text}");
    assert!(text.contains("image build failed"), "{text}");
    assert!(
        text.to_lowercase().contains("unknown instruction"),
        "{text}"
    );
    assert!(text.contains("Dockerfile"), "{text}");

    // A step that fails at run time: the message carries the last output lines.
    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\nCOPY Dockerfile /x\nRUN /bin/does-not-exist\n",
    );
    let err = image::build::build(&docker, &spec, |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    eprintln!("failing step:\n{text}");
    assert!(text.contains("image build failed"), "{text}");
    assert!(text.contains("RUN /bin/does-not-exist"), "{text}");
    assert_eq!(error::kind_of(&err), error::Kind::Deploy);
    remove_image(&docker, "dhow-test/image-broken:v1").await;
}

/// A tiny image for copy and registry tests. Its content is new to this run, so the classic
/// builder never takes a cached step whose image an earlier run (or a test beside it) removed
/// meanwhile ("unable to find image sha256:...").
async fn tiny_image(docker: &Docker, tag: &str, content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nCOPY data.txt /\n");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    write(
        dir.path(),
        "data.txt",
        &format!("{content} {} {nonce}", std::process::id()),
    );
    let spec = BuildSpec {
        context_dir: dir.path().to_path_buf(),
        tags: vec![tag.to_string()],
        ..Default::default()
    };
    image::build::build(docker, &spec, |_| {}).await.unwrap()
}

#[tokio::test]
async fn copy_to_an_engine_that_has_the_image_sends_nothing_and_tags_it() {
    // Stand-in: source and destination are the same local engine, so the image is always
    // "already on host"; the byte streaming to another engine is covered by
    // tests/e2e_image_transfer.rs against a sandbox host's engine.
    let docker = local().await;
    let id = tiny_image(&docker, "dhow-test/image-copy:v1", "copy").await;
    let mut events = Vec::new();
    let sent = image::transfer::copy(&docker, &docker, "dhow-test/image-copy:v1", |e| {
        events.push(e)
    })
    .await
    .unwrap();
    assert_eq!(sent, 0);
    assert_eq!(
        events,
        vec![image::transfer::TransferEvent::AlreadyPresent { id: id.clone() }]
    );

    // Under a new name the same ID is found and only tagged.
    let options = TagImageOptionsBuilder::default()
        .repo("dhow-test/image-copy-src")
        .tag("v2")
        .build();
    docker.tag_image(&id, Some(options)).await.unwrap();
    remove_image(&docker, "dhow-test/image-copy:v1").await;
    assert!(docker
        .inspect_image("dhow-test/image-copy:v1")
        .await
        .is_err());
    let sent = image::transfer::copy(&docker, &docker, "dhow-test/image-copy-src:v2", |_| {})
        .await
        .unwrap();
    assert_eq!(sent, 0);

    let err = image::transfer::copy(&docker, &docker, "dhow-test/image-copy:missing", |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not have it"), "{err}");
    remove_image(&docker, "dhow-test/image-copy-src:v2").await;
}

/// The sandbox state directory: $SANDBOX_STATE, else this checkout's sandbox/.state, else
/// the main checkout's.
fn sandbox_state() -> PathBuf {
    if let Some(dir) = std::env::var_os("SANDBOX_STATE") {
        return PathBuf::from(dir);
    }
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/.state");
    if own.join("registry-password").exists() {
        return own;
    }
    PathBuf::from("/work/main/sandbox/.state")
}

fn registry_password() -> SecretString {
    let path = sandbox_state().join("registry-password");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; start the sandbox (make sandbox) for the registry tests",
            path.display()
        )
    });
    SecretString::from(text.trim().to_string())
}

#[tokio::test]
async fn push_and_pull_through_the_sandbox_registry() {
    let docker = local().await;
    let reference = "127.0.0.1:5000/dhow-test/image-registry:v1";
    let id = tiny_image(&docker, reference, "registry").await;
    let login = Login {
        username: "dhow".into(),
        password: Some(registry_password()),
    };
    let mut statuses = Vec::new();
    image::registry::push(&docker, reference, Some(&login), |s| {
        statuses.push(s.to_string())
    })
    .await
    .unwrap();
    assert!(
        statuses.iter().any(|s| s.contains("digest")),
        "push reported its digest: {statuses:?}"
    );

    remove_image(&docker, reference).await;
    assert!(docker.inspect_image(reference).await.is_err());
    image::registry::pull(&docker, reference, Some(&login), |_| {})
        .await
        .unwrap();
    let pulled = docker.inspect_image(reference).await.unwrap();
    assert_eq!(pulled.id.as_deref(), Some(id.as_str()));
    remove_image(&docker, reference).await;
}

#[tokio::test]
async fn a_wrong_registry_password_is_a_clear_unauthorized_error() {
    let docker = local().await;
    let reference = "127.0.0.1:5000/dhow-test/image-denied:v1";
    tiny_image(&docker, reference, "denied").await;
    let wrong = "not-the-password-4711";
    let login = Login {
        username: "dhow".into(),
        password: Some(SecretString::from(wrong.to_string())),
    };
    let err = image::registry::push(&docker, reference, Some(&login), |_| {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    eprintln!("wrong password:\n{text}");
    assert!(text.contains("127.0.0.1:5000"), "{text}");
    assert!(text.contains("user dhow"), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains(wrong), "the password leaked: {text}");
    assert_eq!(error::kind_of(&err), error::Kind::Connection);

    remove_image(&docker, reference).await;
    let err = image::registry::pull(&docker, reference, Some(&login), |_| {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("user dhow") && !text.contains(wrong),
        "{text}"
    );
}

/// The static demo binary (`make demo-bin`).
fn demo_binary() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("demo/bin/dhow-demo");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `make demo-bin` first (or `make test-image`)",
            path.display()
        )
    })
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test]
async fn a_scratch_image_of_a_static_binary_loads_and_serves() {
    let docker = local().await;
    let name = "dhow-image-helper-test";
    let reference = "dhow-test/image-scratch:v1";
    remove_container(&docker, name).await;
    remove_image(&docker, reference).await;

    let spec = image::scratch::ScratchImage {
        binary: demo_binary(),
        path_in_image: "dhow-proxy".into(),
        repo_tag: reference.into(),
        entrypoint: vec!["/dhow-proxy".into()],
        cmd: vec![],
        env: vec!["PORT=3000".into(), "APP_VERSION=scratch-test".into()],
        labels: BTreeMap::from([("dhow.test".to_string(), "scratch".to_string())]),
        arch: "amd64".into(),
    };
    let archive = image::scratch::image_tar(&spec).unwrap();
    assert!(image::scratch::load(&docker, &archive, reference)
        .await
        .unwrap());
    // Loading the same archive again finds the image ID and sends nothing.
    assert!(!image::scratch::load(&docker, &archive, reference)
        .await
        .unwrap());
    let inspected = docker.inspect_image(reference).await.unwrap();
    assert_eq!(inspected.id.as_deref(), Some(archive.image_id.as_str()));

    let port = 39_317;
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let body = ContainerCreateBody {
        image: Some(reference.to_string()),
        exposed_ports: Some(vec!["3000/tcp".to_string()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                "3000/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port.to_string()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker.create_container(Some(options), body).await.unwrap();
    docker.start_container(name, None).await.unwrap();

    // Wait for the server to listen (bounded), then check what a user would: /up answers 200.
    let mut answer = Err(std::io::Error::other("not tried"));
    for _ in 0..50 {
        answer = http_get(port, "/up");
        if matches!(&answer, Ok(text) if text.starts_with("HTTP/1.1 200")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    remove_container(&docker, name).await;
    remove_image(&docker, reference).await;
    let answer = answer.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn build_secrets_reach_the_build_and_not_the_image() {
    let docker = local().await;
    // The sandbox's debootstrapped base image (make sandbox builds it): a local image with a
    // shell, so the build needs no registry.
    if docker
        .inspect_image("dhow-sandbox-base:fresh")
        .await
        .is_err()
    {
        panic!("dhow-sandbox-base:fresh is missing: run `make sandbox` first (make test does)");
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = "tok-3f9a1c7e-never-in-the-image";
    write(
        dir.path(),
        "Dockerfile",
        "FROM dhow-sandbox-base:fresh\n\
         RUN --mount=type=secret,id=API_TOKEN sha256sum /run/secrets/API_TOKEN | cut -c1-64 > /token.sha\n\
         ARG NOTE\nLABEL note=$NOTE\n",
    );
    let spec = BuildSpec {
        context_dir: dir.path().to_path_buf(),
        secrets: vec!["API_TOKEN".into()],
        secret_values: vec![("API_TOKEN".into(), SecretString::from(secret.to_string()))],
        args: BTreeMap::from([("NOTE".to_string(), "with-secrets".to_string())]),
        tags: vec!["dhow-test/image-secret:v1".into()],
        ..Default::default()
    };
    let mut lines = Vec::new();
    let id = image::build::build(&docker, &spec, |e| {
        if let BuildEvent::Output(l) = e {
            lines.push(l)
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!id.is_empty());
    assert!(
        lines.iter().all(|l| !l.contains(secret)),
        "the secret was printed"
    );
    // The build saw the secret: the file holds its hash.
    let run = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "dhow-test/image-secret:v1",
            "cat",
            "/token.sha",
        ])
        .output()
        .unwrap();
    use sha2::Digest;
    let want = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), want);
    // The image does not hold it: not in its history, config or any file.
    let history = std::process::Command::new("docker")
        .args(["history", "--no-trunc", "dhow-test/image-secret:v1"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&history.stdout).contains(secret));
    let save = std::process::Command::new("docker")
        .args(["save", "dhow-test/image-secret:v1"])
        .output()
        .unwrap();
    assert!(
        !save
            .stdout
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the secret is in the image"
    );
    let inspected = docker
        .inspect_image("dhow-test/image-secret:v1")
        .await
        .unwrap();
    let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("note").map(String::as_str), Some("with-secrets"));
    remove_image(&docker, "dhow-test/image-secret:v1").await;
}
