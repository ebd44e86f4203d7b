//! The Docker API of a remote host, driven with bollard through the host's SSH connection.

mod tunnel;

pub use tunnel::{connect, connect_with_timeout, DOCKER_SOCKET};
