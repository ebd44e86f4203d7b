//! `cron serve`: sleep until the schedule is next due, start a run on its own thread (or
//! record a skipped one while a run goes), repeat. SIGTERM (a `docker stop`, e.g. the old
//! version's container after a deploy) passes the signal to a running command, waits for its
//! record to be written, and exits.

use super::args::CronArgs;
use super::reap::RUNNING_PID;
use super::run;
use chrono::{DateTime, SecondsFormat, Utc};
use dhow_proxy_api::cron::Trigger;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn serve(a: &CronArgs) -> anyhow::Result<()> {
    let schedule = dhow_proxy_api::cron::parse(&a.schedule).map_err(anyhow::Error::msg)?;
    run::prepare(a)?;
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone())?;
    super::reap::start();
    eprintln!(
        "dhow cron: schedule `{}` (UTC), command {:?}",
        a.schedule, a.command
    );
    let mut last_due: Option<DateTime<Utc>> = None;
    let mut current: Option<std::thread::JoinHandle<i32>> = None;
    while !stop.load(Ordering::SeqCst) {
        // Computed from now: runs missed while the host (or this container) was down are not
        // made up; and strictly after the last due time, so one is never started twice.
        let from = last_due.map_or(Utc::now(), |d| d.max(Utc::now()));
        let Some(due) = schedule.next_after(from) else {
            anyhow::bail!("the schedule `{}` is never due again", a.schedule);
        };
        eprintln!(
            "dhow cron: next run at {}",
            due.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        if !sleep_until(due, &stop) {
            break;
        }
        last_due = Some(due);
        if current.as_ref().is_some_and(|t| t.is_finished()) {
            let _ = current.take().map(|t| t.join());
        }
        match run::try_lock(a)? {
            Some(lock) => {
                let args = a.clone();
                current = Some(std::thread::spawn(move || {
                    run::run_locked(&args, Trigger::Scheduled, lock)
                }));
            }
            None => skipped(a, due),
        }
    }
    if let Some(t) = current {
        let _ = t.join();
    }
    Ok(())
}

/// Record a run that was due while another went.
fn skipped(a: &CronArgs, due: DateTime<Utc>) {
    let mut record = run::new_record(Trigger::Scheduled);
    record.started = due.to_rfc3339_opts(SecondsFormat::Secs, true);
    record.note = Some("skipped: the previous run is still going".into());
    eprintln!(
        "dhow cron: run due at {} skipped: the previous run is still going",
        record.started
    );
    if let Err(e) = super::history::append(&a.state, &record, a.keep) {
        eprintln!("dhow cron: recording a skipped run: {e:#}");
    }
}

/// Sleep until `due`; `false` when told to stop first.
fn sleep_until(due: DateTime<Utc>, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(500)));
    }
}

/// SIGTERM and SIGINT: set `stop` and pass SIGTERM to a running command. As PID 1 of a
/// container the process gets no default handling of these, so they are waited for here.
fn watch_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    // SAFETY: plain libc signal-set calls on a local set; blocking the signals in this (the
    // only) thread before any other starts makes every later thread inherit the mask, so
    // only `sigwait` below receives them. std's Command resets the mask for children.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            anyhow::bail!("blocking SIGTERM: {}", std::io::Error::last_os_error());
        }
        set
    };
    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid, initialised signal set; `sig` a valid out pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        stop.store(true, Ordering::SeqCst);
        let pid = RUNNING_PID.load(Ordering::SeqCst);
        if pid > 0 {
            eprintln!("dhow cron: stopping; passing SIGTERM to the running command");
            // SAFETY: kill with a pid this process started and a valid signal number.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    });
    Ok(())
}
