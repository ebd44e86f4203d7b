//! The kept runs in the state directory: `history.jsonl` (a record per run, newest last) and
//! `runs/<id>.log`, trimmed to the newest `keep`. Every change holds `history.lock`, so a
//! skipped run's record cannot be lost to a trim going on beside it.

use anyhow::Context;
use dhow_proxy_api::cron::{RunRecord, HISTORY_FILE, RUNS_DIR};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

/// An exclusive `flock` on a file, released when dropped (with the file).
pub struct Locked(#[allow(dead_code)] File);

/// Lock `path` (created if missing); `blocking` waits, else `Ok(None)` when it is held.
pub fn lock(path: &Path, blocking: bool) -> anyhow::Result<Option<Locked>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let op = libc::LOCK_EX | if blocking { 0 } else { libc::LOCK_NB };
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        return Ok(Some(Locked(f)));
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(None);
    }
    Err(e).with_context(|| format!("lock {}", path.display()))
}

/// Append `record` to the history, then keep only the newest `keep` runs.
pub fn append(state: &Path, record: &RunRecord, keep: usize) -> anyhow::Result<()> {
    let _guard = lock(&state.join("history.lock"), true)?;
    let path = state.join(HISTORY_FILE);
    let mut line = serde_json::to_string(record)?;
    line.push('\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .with_context(|| format!("write {}", path.display()))?;
    trim(state, keep.max(1))
}

fn trim(state: &Path, keep: usize) -> anyhow::Result<()> {
    let path = state.join(HISTORY_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() <= keep {
        return Ok(());
    }
    let (gone, kept) = lines.split_at(lines.len() - keep);
    for l in gone {
        if let Ok(r) = serde_json::from_str::<RunRecord>(l) {
            let _ = std::fs::remove_file(log_path(state, &r.id));
        }
    }
    let tmp = state.join(format!("{HISTORY_FILE}.tmp"));
    std::fs::write(&tmp, kept.join("\n") + "\n")
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("rewrite {}", path.display()))
}

/// Where a run's output goes.
pub fn log_path(state: &Path, id: &str) -> std::path::PathBuf {
    state.join(RUNS_DIR).join(format!("{id}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhow_proxy_api::cron::Trigger;

    fn record(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            trigger: Trigger::Scheduled,
            version: "v1".into(),
            started: "2026-12-03T09:00:00Z".into(),
            finished: None,
            exit_code: Some(0),
            note: None,
        }
    }

    #[test]
    fn the_newest_runs_are_kept_with_their_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(RUNS_DIR)).unwrap();
        for i in 0..5 {
            let id = format!("r{i}");
            std::fs::write(log_path(dir.path(), &id), "out").unwrap();
            append(dir.path(), &record(&id), 3).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<RunRecord>(l).unwrap().id)
            .collect();
        assert_eq!(ids, ["r2", "r3", "r4"]);
        assert!(!log_path(dir.path(), "r1").exists());
        assert!(log_path(dir.path(), "r2").exists());
    }

    #[test]
    fn a_held_lock_is_reported_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.lock");
        let held = lock(&p, false).unwrap();
        assert!(held.is_some());
        assert!(lock(&p, false).unwrap().is_none());
        drop(held);
        assert!(lock(&p, false).unwrap().is_some());
    }
}
