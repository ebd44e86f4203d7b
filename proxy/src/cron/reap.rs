//! Reaping orphans. As PID 1 of its container the scheduler inherits every orphaned process:
//! a job's own background children, and those of `cron now` runs execed into the container.
//! Nothing else collects them, so without this they would stay zombies until the container's
//! pid table filled. A thread waits for any child's exit without collecting it (`waitid` with
//! `WNOWAIT`) and collects it unless it is a job a run is waiting for, whose status the run's
//! own `Child::wait` must get. A job's pid is published under [`SPAWN`] while it is spawned,
//! so a job that exits at once is never mistaken for an orphan.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The pid of the job running now (0: none): not an orphan, and what the scheduler's stop
/// passes SIGTERM to.
pub static RUNNING_PID: AtomicI32 = AtomicI32::new(0);

/// Held while a job is spawned and its pid stored in [`RUNNING_PID`].
pub static SPAWN: Mutex<()> = Mutex::new(());

/// Start the reaper when this process is its namespace's init (a no-op elsewhere).
pub fn start() {
    if std::process::id() != 1 {
        return;
    }
    std::thread::spawn(|| loop {
        match next_exited() {
            Some(pid) => {
                if !reap_unless_job(pid) {
                    // The job's own wait collects it in a moment.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // No children at all: look again later.
            None => std::thread::sleep(Duration::from_millis(250)),
        }
    });
}

/// The pid of a child that has exited, left uncollected; `None` when there is no child.
fn next_exited() -> Option<libc::pid_t> {
    // SAFETY: a zeroed siginfo_t is a valid out value; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid id type, flags and out pointer.
        let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            // SAFETY: waitid filled `info` for an exited child (si_code CLD_*).
            return Some(unsafe { info.si_pid() });
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Collect `pid` unless it is the running job; whether it was collected.
fn reap_unless_job(pid: libc::pid_t) -> bool {
    let _spawning = SPAWN.lock();
    if pid == RUNNING_PID.load(Ordering::SeqCst) {
        return false;
    }
    let mut status = 0;
    // SAFETY: waitpid on one pid with a valid status pointer; WNOHANG never blocks.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    true
}
