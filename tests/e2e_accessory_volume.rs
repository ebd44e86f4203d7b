//! End-to-end: an accessory whose image declares a VOLUME and whose config names no volume
//! (like a bare `postgres:16`) keeps what it wrote there across `accessory reboot`: the new
//! container gets the old one's anonymous volume instead of a fresh, empty one. The image is
//! built here on the local engine (FROM the sandbox's PostgreSQL image, which CI builds) and
//! sent to the host over SSH.

mod support;

use std::process::Command;
use support::{config_with_servers, text, Project, Sandbox};

const IMAGE: &str = "dhow-test/acc-vol:1";

/// Build the test image: a shell that writes nothing by itself, with `VOLUME /data`.
fn build_image() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM dhow-sandbox-postgres:15\nVOLUME /data\nENTRYPOINT []\n\
         CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]\n",
    )
    .unwrap();
    let out = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "building {IMAGE} (needs `make sandbox-postgres`): {}",
        text(&out)
    );
}

/// The names of the volumes mounted in `container` on sandbox host `i`.
fn volumes_of(sb: &Sandbox, i: usize, container: &str) -> Vec<String> {
    let out = sb.docker_exec(
        &sb.container(i),
        &format!("docker inspect -f '{{{{range .Mounts}}}}{{{{.Name}}}} {{{{end}}}}' {container}"),
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn an_image_volume_keeps_its_data_across_accessory_reboot() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    build_image();
    let extra = format!(
        r#"
[accessories.vol]
image = "{IMAGE}"
host = "{h1}"
"#
    );
    let p = Project::new(&config_with_servers(
        &sb,
        "accv",
        &format!("servers = [\"{h1}\"]"),
        &extra,
    ));
    let container = "accv-vol";
    let cleanup = |volumes: &[String]| {
        let _ = p.dhow(&["accessory", "remove", "vol", "-y"]);
        for v in volumes {
            sb.docker_exec(&sb.container(1), &format!("docker volume rm {v}"));
        }
        sb.docker_exec(&sb.container(1), &format!("docker rmi {IMAGE}"));
    };
    cleanup(&[]);

    p.dhow_ok(&["accessory", "boot", "vol"]);
    let before = volumes_of(&sb, 1, container);
    assert_eq!(
        before.len(),
        1,
        "one anonymous volume for /data: {before:?}"
    );
    p.dhow_ok(&[
        "accessory",
        "exec",
        "vol",
        "sh",
        "-c",
        "echo kept-7c1d > /data/marker",
    ]);

    let out = p.dhow_ok(&["accessory", "reboot", "vol"]);
    let after = volumes_of(&sb, 1, container);
    assert_eq!(
        after,
        before,
        "the rebooted container mounts the same volume: {}",
        text(&out)
    );
    let out = p.dhow_ok(&["accessory", "exec", "vol", "cat", "/data/marker"]);
    assert!(
        text(&out).contains("kept-7c1d"),
        "data written before the reboot is there after it: {}",
        text(&out)
    );

    cleanup(&after);
    let _ = Command::new("docker").args(["rmi", IMAGE]).output();
}
