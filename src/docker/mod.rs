//! Every Docker Engine call dhow makes, one file per concern: containers, images, the app
//! network, logs, exec, the engine's version, the local engine; with timeouts and one typed
//! "not found" (errors.rs). Also what a dhow container is made of in the Engine's terms: the
//! label keys (labels.rs) and the container spec and create body (spec.rs).
//!
//! Callers hand in a `bollard::Docker`: a host's from src/host/ (the SSH tunnel), this
//! machine's from [`local::connect_local`]. docker/ uses only error.rs below it: it knows
//! nothing of plans, deploys or the CLI.

pub mod arch;
pub mod containers;
pub mod engine;
pub mod errors;
pub mod exec;
pub mod images;
pub mod labels;
pub mod lines;
pub mod local;
pub mod logs;
pub mod network;
pub mod spec;
pub mod system;

pub use errors::{is_not_found, message};
pub use local::connect_local;
