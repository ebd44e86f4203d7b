//! `dhow-proxy cron serve|now`: the scheduler of a cron role, running as PID 1 of the role's
//! container (the app's image of the deployed version, with this static binary uploaded
//! into it by dhow before it starts; see src/deploy/cron.rs in the CLI for why). `serve`
//! runs the role's command on its schedule; `now` (what `dhow cron run` execs in the
//! container) runs it once, its output on stdout, and exits with its status.
//!
//! One run at a time: a run holds the lock on `run.lock` in the state directory, which is
//! bind-mounted from the host and shared by every version's container of the role, so it
//! holds across a deploy's overlap and against `now`. A run due while one goes is skipped and
//! recorded as such. Each run's output and a record (history.jsonl) are kept, the newest
//! `--keep` of them. A container started after its host was down computes the next run from
//! the current time: missed runs are not made up.
//!
//! As its container's PID 1, `serve` also collects orphaned processes (reap.rs).
//!
//! Plain threads, no async runtime: a scheduler sleeps, spawns and waits.

mod args;
mod history;
mod reap;
mod run;
mod serve;

pub use args::CronArgs;

#[derive(clap::Subcommand, Debug)]
pub enum CronCmd {
    /// Run the command on its schedule, until stopped.
    Serve(CronArgs),
    /// Run the command once now (refused with status 75 while a run goes).
    Now(CronArgs),
}

/// Run a cron subcommand; the process's exit status.
pub fn main(cmd: CronCmd) -> i32 {
    let result = match cmd {
        CronCmd::Serve(a) => serve::serve(&a).map(|()| 0),
        CronCmd::Now(a) => run::now(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dhow cron: {e:#}");
            1
        }
    }
}
