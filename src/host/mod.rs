//! One server as dhow reaches it: the SSH session (ssh/), the `Exec` seam every shell step
//! goes through (remote.rs), shell quoting (shell.rs), the Docker API tunnelled over the SSH
//! connection (docker_tunnel.rs), the connected-host handle that carries both (conn.rs), and
//! connecting to every selected host at once, all or nothing (connect_all.rs); the names dhow
//! gives what it puts on hosts (names.rs) and the app's state directory there (state_dir.rs).
//!
//! host/ is the bottom floor next to docker/: it uses only error.rs, and knows nothing of
//! images, plans, deploys or the CLI.

pub mod conn;
pub mod connect_all;
pub mod docker_tunnel;
pub mod names;
pub mod remote;
pub mod shell;
pub mod ssh;
pub mod state_dir;

pub use connect_all::{connect_all, HostConns};
