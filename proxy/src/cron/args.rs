//! The command line `cron serve` and `cron now` share.

use std::path::PathBuf;

/// Arguments shared by `serve` and `now` (their command line is built by
/// `dhow_proxy_api::cron::serve_entrypoint`).
#[derive(clap::Args, Debug, Clone)]
pub struct CronArgs {
    /// The schedule (standard 5-field cron, UTC).
    #[arg(long)]
    pub schedule: String,
    /// Runs whose record and output are kept.
    #[arg(long, default_value_t = dhow_proxy_api::cron::DEFAULT_KEEP)]
    pub keep: usize,
    /// The state directory (lock, history, run output).
    #[arg(long, default_value = dhow_proxy_api::cron::STATE_DIR)]
    pub state: PathBuf,
    /// The command to run, and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}
