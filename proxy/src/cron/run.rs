//! One run of a cron role's command: take the run lock (or be skipped), start the command,
//! copy its stdout and stderr both to this process's own (the container's log, or `dhow cron
//! run`'s stream) and to the run's log file, wait, and record the outcome.

use super::args::CronArgs;
use super::history::{self, Locked};
use super::reap::RUNNING_PID;
use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use dhow_proxy_api::cron::{RunRecord, Trigger, BUSY_EXIT, LOCK_FILE, RUNS_DIR};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// `cron now`: one run, its status as the exit status ([`BUSY_EXIT`] when one is going).
pub fn now(a: &CronArgs) -> anyhow::Result<i32> {
    prepare(a)?;
    let Some(lock) = try_lock(a)? else {
        eprintln!("dhow cron: a run is already going; nothing was started");
        return Ok(BUSY_EXIT);
    };
    Ok(run_locked(a, Trigger::Manual, lock))
}

/// Make the state directory's parts exist.
pub fn prepare(a: &CronArgs) -> anyhow::Result<()> {
    let runs = a.state.join(RUNS_DIR);
    std::fs::create_dir_all(&runs).with_context(|| format!("create {}", runs.display()))
}

/// The run lock, or `None` while a run goes.
pub fn try_lock(a: &CronArgs) -> anyhow::Result<Option<Locked>> {
    history::lock(&a.state.join(LOCK_FILE), false)
}

/// A record for a run starting now.
pub fn new_record(trigger: Trigger) -> RunRecord {
    let now = Utc::now();
    RunRecord {
        id: format!(
            "{}-{:09}",
            now.format("%Y%m%dT%H%M%SZ"),
            now.timestamp_subsec_nanos()
        ),
        trigger,
        version: std::env::var("DHOW_VERSION").unwrap_or_default(),
        started: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished: None,
        exit_code: None,
        note: None,
    }
}

/// Run the command holding `lock` (released when done); the exit status to report (the
/// command's, 128+signal when a signal ended it, 127 when it could not start).
pub fn run_locked(a: &CronArgs, trigger: Trigger, lock: Locked) -> i32 {
    let mut record = new_record(trigger);
    eprintln!(
        "dhow cron: run {} started ({:?}, version {})",
        record.id, trigger, record.version
    );
    let status = match execute(a, &record.id) {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            record.exit_code = status.code();
            if let Some(sig) = status.signal() {
                record.note = Some(format!("ended by signal {sig}"));
            }
            status.code().unwrap_or(128 + status.signal().unwrap_or(0))
        }
        Err(e) => {
            record.note = Some(format!("did not start: {e:#}"));
            eprintln!("dhow cron: {e:#}");
            127
        }
    };
    record.finished = Some(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true));
    if let Err(e) = history::append(&a.state, &record, a.keep) {
        eprintln!("dhow cron: recording run {}: {e:#}", record.id);
    }
    eprintln!("dhow cron: run {} finished: status {status}", record.id);
    drop(lock);
    status
}

fn execute(a: &CronArgs, id: &str) -> anyhow::Result<std::process::ExitStatus> {
    let log_path = history::log_path(&a.state, id);
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("create {}", log_path.display()))?;
    let log = Arc::new(Mutex::new(log));
    let (program, args) = a.command.split_first().context("no command to run")?;
    // Spawned and published under the reaper's lock: see reap.rs.
    let spawning = super::reap::SPAWN.lock();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {program}"))?;
    RUNNING_PID.store(child.id() as i32, Ordering::SeqCst);
    drop(spawning);
    let out = child.stdout.take().map(|r| tee(r, log.clone(), false));
    let err = child.stderr.take().map(|r| tee(r, log.clone(), true));
    let status = child.wait().context("wait for the command");
    RUNNING_PID.store(0, Ordering::SeqCst);
    for t in [out, err].into_iter().flatten() {
        let _ = t.join();
    }
    status
}

/// Copy `r` to the log file and to stdout (or stderr) as it comes.
fn tee(
    mut r: impl Read + Send + 'static,
    log: Arc<Mutex<std::fs::File>>,
    stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Ok(mut f) = log.lock() {
                let _ = f.write_all(&buf[..n]);
            }
            let _ = if stderr {
                std::io::stderr().write_all(&buf[..n])
            } else {
                let mut o = std::io::stdout();
                o.write_all(&buf[..n]).and_then(|()| o.flush())
            };
        }
    })
}
