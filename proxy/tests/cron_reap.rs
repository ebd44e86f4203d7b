//! The cron scheduler as its PID namespace's init collects orphaned processes: `cron serve`
//! runs as PID 1 of a new PID namespace (util-linux `unshare`, as root; what a container
//! gives it), processes started in that namespace (`nsenter`, as `docker exec` does) leave
//! orphans behind, and none of them stays a zombie.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Children of `ppid` (host pids) in state Z.
fn zombies_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[0] == "Z" && f[1] == ppid.to_string() {
            out.push(pid);
        }
    }
    out
}

/// The host pid of the namespace's init: unshare --fork's only child.
fn init_of(unshare: u32) -> Option<u32> {
    let kids = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
    kids.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_scheduler_as_pid_1_leaves_no_zombies() {
    let usable = Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !usable {
        eprintln!("SKIPPED: `unshare --pid` is not available here (needs root and util-linux)");
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_dhow-proxy"))
        .args(["cron", "serve", "--schedule", "0 0 1 1 *", "--state"])
        .arg(state.path())
        .args(["--", "true"])
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare");
    let deadline = Instant::now() + Duration::from_secs(10);
    let init = loop {
        if let Some(p) = init_of(unshare.id()) {
            break p;
        }
        assert!(Instant::now() < deadline, "the scheduler did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Each shell exits at once, leaving its background sleep to the namespace's init.
    for _ in 0..5 {
        let ok = Command::new("nsenter")
            .args([
                "-t",
                &init.to_string(),
                "-p",
                "--",
                "sh",
                "-c",
                "sleep 0.2 & exit 0",
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "nsenter into the scheduler's namespace failed");
    }
    // Every orphan has ended within a second; give the reaper a moment after that.
    std::thread::sleep(Duration::from_millis(1500));
    let left = zombies_of(init);
    let _ = unshare.kill();
    let _ = unshare.wait();
    assert!(
        left.is_empty(),
        "zombies left under the scheduler: {left:?}"
    );
}
