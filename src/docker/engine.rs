//! The Docker operations the deploy executor makes on one host, under the names it calls
//! them by (`docker::engine::stop`, ...): find a role's containers by label, create/start/
//! stop/rename/remove, read the last log lines, wait until a container runs steadily or is
//! healthy. The code lives in the per-concern files beside this one; this is the executor's
//! one import.

pub use super::containers::{
    create_and_start, not_running_reason, remove, rename, service_containers, start, stop,
    wait_steady, AppContainer,
};
pub use super::logs::logs_tail;
// Kept under their old paths for callers outside the executor (and its coming engine trait).
#[allow(unused_imports)]
pub use super::errors::{message as docker_message, timed};
#[allow(unused_imports)]
pub use super::logs::stderr_tail;
