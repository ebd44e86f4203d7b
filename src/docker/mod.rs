//! Every Docker Engine call dhow makes on a host: containers, images, networks, logs, exec,
//! with timeouts and typed errors. Callers hand in a `bollard::Docker` (from host/).

pub mod engine;
pub mod network;
