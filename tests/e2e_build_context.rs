//! End-to-end: secrets never enter an image. An app whose Dockerfile says `COPY . /app`, with
//! `.dhow/secrets` next to it (and a `.dockerignore` that does not mention it), is deployed by
//! the real `dhow` binary to a sandbox host; the image there holds no `.dhow` file and, built
//! from the committed tree (the default), not the uncommitted file either, and dhow names
//! that file in a warning. With `builder.context_source = "working-tree"` the uncommitted
//! file is in, `.dhow` still is not.
//!
//! Run: a private or the shared sandbox up, `make demo-bin`, then
//! `cargo test --features e2e --test e2e_build_context -- --test-threads=1`.

mod support;

use std::process::Command;
use support::{config, text, Project, Sandbox};

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

/// A project whose context is the repository root, committed, with secrets and one
/// uncommitted file.
fn project(sb: &Sandbox, service: &str, extra_builder: &str) -> Project {
    let cfg = config(sb, service, "").replace(
        "[builder]\ncontext = \"app\"\n",
        &format!("[builder]\ncontext = \".\"\n{extra_builder}"),
    );
    let p = Project::new(&cfg);
    p.write(
        "Dockerfile",
        "FROM scratch\nCOPY app/bin/dhow-demo /dhow-demo\nCOPY . /app\nEXPOSE 3000\n\
         ENTRYPOINT [\"/dhow-demo\"]\n",
    );
    p.write(".dockerignore", "hooks\n");
    p.write(".gitignore", ".dhow/secrets*\n");
    p.write(".dhow/secrets", "DB_PASSWORD=hunter2-must-not-ship\n");
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["config", "user.email", "t@example.invalid"]);
    git(p.path(), &["config", "user.name", "t"]);
    git(p.path(), &["config", "commit.gpgsign", "false"]);
    git(p.path(), &["add", "."]);
    git(p.path(), &["commit", "-q", "-m", "app"]);
    p.write("uncommitted.txt", "work in progress");
    p
}

/// The SHA of the project's HEAD: the version deployed.
fn head(p: &Project) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(p.path())
        .args(["rev-parse", "HEAD"])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The paths under /app in `image` on sandbox host 1.
fn app_files(sb: &Sandbox, image: &str, name: &str) -> String {
    let out = sb.docker_exec(
        &sb.container(1),
        &format!(
            "docker rm -f {name} >/dev/null 2>&1; docker create --name {name} {image} >/dev/null \
             && docker export {name} | tar -t | grep '^app/'; docker rm -f {name} >/dev/null"
        ),
    );
    text(&out)
}

fn remove(p: &Project) {
    let _ = p.dhow(&["remove", "-y"]);
}

#[test]
fn secrets_and_uncommitted_files_never_reach_the_image_on_the_host() {
    let sb = Sandbox::load();
    let p = project(&sb, "ctxsec", "");
    let out = p.dhow_ok(&["deploy"]);
    let t = text(&out);
    assert!(
        t.contains("NOT in the image") && t.contains("uncommitted.txt"),
        "{t}"
    );
    let image = format!("dhow-test/ctxsec:{}", head(&p));
    let files = app_files(&sb, &image, "ctxsec-inspect");
    assert!(files.contains("app/Dockerfile"), "{files}");
    assert!(files.contains("app/config/deploy.toml"), "{files}");
    assert!(!files.contains(".dhow"), "secrets in the image:\n{files}");
    assert!(!files.contains("uncommitted.txt"), "{files}");
    assert!(
        !files.contains("app/hooks"),
        ".dockerignore honoured:\n{files}"
    );
    remove(&p);
}

#[test]
fn working_tree_builds_take_uncommitted_files_but_never_dhow() {
    let sb = Sandbox::load();
    let p = project(&sb, "ctxwt", "context_source = \"working-tree\"\n");
    p.dhow_ok(&["deploy"]);
    let image = format!("dhow-test/ctxwt:{}-dirty", head(&p));
    let files = app_files(&sb, &image, "ctxwt-inspect");
    assert!(files.contains("app/uncommitted.txt"), "{files}");
    assert!(!files.contains(".dhow"), "secrets in the image:\n{files}");
    remove(&p);
}
