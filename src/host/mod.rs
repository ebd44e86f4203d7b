//! One server as dhow reaches it: the SSH session (ssh/), the `Exec` seam every shell step
//! goes through (remote.rs), shell quoting (shell.rs), the Docker API tunnelled over the SSH
//! connection (docker_tunnel.rs) and the connected-host handle that carries both (conn.rs).

pub mod conn;
pub mod docker_tunnel;
pub mod remote;
pub mod shell;
pub mod ssh;
