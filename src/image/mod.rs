//! Docker images: pick the version, build on the local engine, deliver to hosts (only the
//! layers a host lacks, the whole image streamed engine to engine, or push and pull through a
//! registry), and assemble single-binary images
//! (the proxy's) without any build at all.
//!
//! Everything takes plain values and `bollard::Docker` handles: the local engine comes from
//! [`crate::docker::connect_local`], a host's engine from the SSH tunnel (src/host/docker_tunnel.rs).

// The deploy flow (wired by the lead) is the caller of this module; until then parts of
// its API are used only by tests.
#![allow(dead_code)]

pub mod build;
pub mod buildkit;
pub mod context;
pub mod credential_helper;
pub mod credentials;
pub mod dockerignore;
pub mod engine;
pub mod layers;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod scratch;
pub mod source;
pub mod transfer;
pub mod version;
