//! End-to-end: `dhow app exec` on the sandbox, with the demo's console (`dhow-demo console`,
//! a stand-in for `rails console`: it says whether it has a terminal and answers each line).
//! In a new container and in the running one (`--reuse`), on every host; `-i` attached to
//! piped stdin and to a real terminal (`script` gives dhow a PTY), on one host; exit statuses
//! come back; an alias runs the console.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use support::{config, text, Project, Sandbox};

/// Run dhow with `input` on stdin.
fn with_stdin(p: &Project, args: &[&str], input: &str) -> std::process::Output {
    let mut child = p
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dhow");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn app_exec_in_new_and_running_containers_interactive_and_not() {
    let sb = Sandbox::load();
    let hosts = sb.hosts();
    let p = Project::new(&config(
        &sb,
        "ex",
        "[aliases]\nconsole = \"app exec -i --reuse /dhow-demo console\"\n",
    ));
    for i in 1..=hosts.len() {
        // One-off containers an interrupted earlier run left behind (by their names).
        sb.docker_exec(
            &sb.container(i),
            "docker ps -aq --filter name=^ex-web-e1-exec- | xargs -r docker rm -f",
        );
    }
    p.dhow_ok(&["deploy", "--version", "e1"]);

    // Not interactive: every host, output prefixed by host; no stdin, so the console ends.
    // The image's entrypoint is /dhow-demo: a new container takes its arguments, the running
    // one runs a whole command line.
    let new = ["console"];
    let reuse = ["--reuse", "/dhow-demo", "console"];
    for extra in [&new[..], &reuse[..]] {
        let mut args = vec!["app", "exec"];
        args.extend_from_slice(extra);
        let out = p.dhow_ok(&args);
        let t = text(&out);
        for h in &hosts {
            assert!(
                t.contains(&format!("{h}: demo console e1 (tty: no)")),
                "{args:?}: {t}"
            );
        }
    }

    // -i with piped input: one host, lines go in and answers come back.
    for extra in [&new[..], &reuse[..]] {
        let mut args = vec!["app", "exec", "-i"];
        args.extend_from_slice(extra);
        let out = with_stdin(&p, &args, "hello\nsecond line\nexit\n");
        let t = text(&out);
        assert!(out.status.success(), "{args:?}: {t}");
        assert!(t.contains("demo console e1 (tty: no)"), "{t}");
        assert!(
            t.contains("= hello\n") && t.contains("= second line"),
            "{t}"
        );
        assert_eq!(t.matches("demo console").count(), 1, "one host only: {t}");
    }
    // New one-off containers are gone afterwards.
    let left = sb.docker_exec(&sb.container(1), "docker ps -a --format '{{.Names}}'");
    assert!(!text(&left).contains("-exec-"), "{}", text(&left));

    // The alias, in a real terminal: the console gets a TTY on the host.
    let line = format!(
        "cd {} && {} console",
        p.path().display(),
        env!("CARGO_BIN_EXE_dhow")
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        // Typed after the console is up, as a person would.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let _ = stdin.write_all(b"typed in a terminal\rexit\r");
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("(tty: yes)"), "{t}");
    assert!(t.contains("= typed in a terminal"), "{t}");

    // A failing command's exit status comes back (the demo server cannot bind: port taken).
    let out = with_stdin(&p, &["app", "exec", "-i", "--reuse", "/dhow-demo"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("exit status 1"), "{}", text(&out));

    p.dhow_ok(&["app", "remove", "-y"]);
}

/// Kamal's way of writing commands: one quoted string for `app exec`, and an alias whose
/// command is quoted inside the alias text, run as written.
#[test]
fn quoted_command_strings_run_as_written() {
    let sb = Sandbox::load();
    let p = Project::new(&config(
        &sb,
        "exq",
        "[aliases]\nconsole = \"app exec --reuse \\\"/dhow-demo console\\\"\"\n",
    ));
    p.dhow_ok(&["deploy", "--version", "q1"]);
    for args in [
        &["app", "exec", "--reuse", "/dhow-demo console"][..],
        &["console"],
    ] {
        let t = text(&p.dhow_ok(args));
        for h in sb.hosts() {
            assert!(
                t.contains(&format!("{h}: demo console q1 (tty: no)")),
                "{args:?}: {t}"
            );
        }
    }
    p.dhow_ok(&["app", "remove", "-y"]);
}
