//! End-to-end: what a deploy tells while it runs. Without flags: a line per image build step.
//! `--json`: `transfer` and `image_delivery` events with the bytes sent to each host over SSH. `-v --log-format
//! json`: diagnostic JSON lines on stderr with the SSH connection and each host's steps, their
//! durations in ms and the host span; `-vv` adds every remote command and Docker API call.
//! No secret value appears in any of them. Hook output is shown while the hook runs.

mod support;

use support::{config_with_servers, text, Project, Sandbox};

#[test]
fn a_deploy_shows_build_steps_transfer_bytes_and_timed_steps_per_host() {
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let p = Project::new(&config_with_servers(
        &sb,
        "diag",
        &format!("servers = [\"{h1}\"]"),
        "[env]\nsecret = [\"DIAG_TOKEN\"]\n",
    ));
    p.write(".dhow/secrets", "DIAG_TOKEN=very-secret-diag-value\n");

    // Build steps, one line each, without -v.
    let out = p.dhow_ok(&["deploy", "--version", "v1"]);
    let said = text(&out);
    assert!(said.contains("  Step 1/"), "no build step lines:\n{said}");

    // --json: transfer events for the new image (a changed Dockerfile: a new image ID), with
    // what was sent: a new label changes the image's config, no layer, so only the config and
    // the manifest travel.
    let dockerfile = std::fs::read_to_string(p.path().join("app/Dockerfile")).unwrap();
    p.write("app/Dockerfile", &format!("{dockerfile}\nLABEL diag=v2\n"));
    let out = p.dhow_ok(&["deploy", "--version", "v2", "--json"]);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done = events
        .iter()
        .find(|e| e["event"] == "transfer" && e["done"] == true)
        .unwrap_or_else(|| panic!("no transfer event: {events:#?}"));
    assert_eq!(done["host"], h1.as_str());
    let sent = done["bytes"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100_000, "{done}");
    let how = events
        .iter()
        .find(|e| e["event"] == "image_delivery")
        .unwrap_or_else(|| panic!("no image_delivery event: {events:#?}"));
    assert_eq!(how["how"], "layers", "{how}");
    assert_eq!(how["layers_sent"], 0, "{how}");
    assert_eq!(how["bytes"], sent, "{how}");
    assert!(how["image_bytes"].as_u64().unwrap() > 100_000, "{how}");

    // -v with JSON diagnostics: timed steps with the host span; -vv: remote commands.
    let out = p.dhow_ok(&["deploy", "--version", "v3", "-vv", "--log-format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let connected = lines.iter().find(|l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .contains("connected over SSH")
    });
    assert!(connected.is_some(), "no connection line:\n{stderr}");
    let delivered = lines
        .iter()
        .find(|l| l["step"] == "delivering the image" && l["ms"].is_u64())
        .unwrap_or_else(|| panic!("no timed delivery step:\n{stderr}"));
    assert_eq!(delivered["host"], h1.as_str());
    assert_eq!(delivered["span"]["host"], h1.as_str(), "{delivered}");
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "DEBUG" && l["call"].is_string()),
        "no Docker API call at -vv:\n{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "DEBUG" && l["status"].is_u64()),
        "no remote command at -vv:\n{stderr}"
    );
    for o in [&stderr, &text(&out), &said] {
        assert!(
            !o.contains("very-secret-diag-value"),
            "a secret in the output"
        );
    }
    p.dhow_ok(&["remove", "-y"]);
}

/// A hook's output is shown as it comes: the hook prints a line, then waits for a file the
/// test creates only after it has read that line from dhow's stdout (a hook whose output were
/// held back until it exits would wait in vain, and fail after 20 s).
#[test]
fn hook_output_is_streamed_while_the_hook_runs() {
    use std::io::BufRead;
    let sb = Sandbox::load();
    let h1 = sb.hosts()[0].clone();
    let p = Project::new(&config_with_servers(
        &sb,
        "diaghook",
        &format!("servers = [\"{h1}\"]"),
        "",
    ));
    let flag = p.path().join("seen-first");
    p.write(
        "hooks/pre-connect",
        &format!(
            "#!/bin/sh\necho first-line\nfor i in $(seq 1 200); do [ -e '{}' ] && break; sleep 0.1; done\n\
             [ -e '{}' ] || {{ echo 'never released'; exit 1; }}\necho second-line\n",
            flag.display(),
            flag.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        p.path().join("hooks/pre-connect"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut child = p
        .cmd(&["deploy", "--version", "v1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dhow");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("[pre-connect] first-line") {
            std::fs::write(&flag, "").unwrap();
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "deploy failed:\n{}", seen.join("\n"));
    assert!(
        seen.iter().any(|l| l.contains("[pre-connect] second-line")),
        "{seen:#?}"
    );
    p.dhow_ok(&["remove", "-y"]);
}
