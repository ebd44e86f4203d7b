//! dhow-proxy: the reverse proxy dhow runs on every server. It routes requests by host and
//! path prefix to each service's current target, and switches a service to a new target only
//! after health-checking it, draining the old target's in-flight requests before it answers.
//! The routing table is immutable and swapped atomically, so requests never take a lock.

pub mod access_log;
pub mod acme;
pub mod atomic_file;
pub mod balance;
pub mod body;
pub mod buffering;
pub mod canary;
pub mod conn;
pub mod control;
pub mod control_bake;
pub mod control_canary;
pub mod control_reply;
pub mod control_targets;
pub mod cron;
pub mod dns;
pub mod drain;
pub mod fast;
pub mod fd_pass;
pub mod forward;
pub mod framing;
pub mod handover;
pub mod health;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod ports_fetch;
pub mod ports_holder;
pub mod proxy;
pub mod replicas;
pub mod router;
pub mod server;
pub mod state;
pub mod stats;
pub mod stock_io;
pub mod tls;
pub mod traffic;
pub mod upstream;
pub mod upstream_client;
