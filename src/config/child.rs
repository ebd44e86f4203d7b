//! A local command's pipes and its time limit: each pipe read to its end on a thread (so a
//! full pipe never blocks the child), and the child waited for up to a limit, killed past it.
//! Shared by secrets' `$(command)` values (secrets.rs) and the password-manager CLIs of
//! `secrets_managers/`, which sits above config.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Read `pipe` to its end (at most `max` bytes) on a thread.
pub fn reader<R: Read + Send + 'static>(pipe: Option<R>, max: u64) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(max).read_to_end(&mut out);
        }
        out
    })
}

/// Wait for `child` up to `limit`; past it the child is killed and `Ok(None)` returned.
pub fn wait_within(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let started = Instant::now();
    loop {
        match child.try_wait()? {
            Some(status) => return Ok(Some(status)),
            None if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
        }
    }
}
