//! The Docker API of a remote host, driven with bollard through the host's SSH connection.

mod tunnel;

// Public API for deploy/setup (other areas); not all of it is used by the CLI yet.
#[allow(unused_imports)]
pub use tunnel::{connect, connect_with_timeout, DOCKER_SOCKET};
