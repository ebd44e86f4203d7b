//! The wire between the dhow CLI and dhow-proxy, written once: the control socket's place,
//! its endpoints, the JSON bodies each side sends and the defaults the proxy fills in. Plain
//! serde data (and cron roles' schedule syntax, `cron.rs`), so the CLI (client) and the proxy (server) cannot drift apart.

pub mod bake;
pub mod canary;
pub mod cron;
pub mod duration;
pub mod paths;
pub mod request;
pub mod response;
pub mod traffic;

pub use bake::BakeStatus;
pub use canary::{
    basis_points, CanaryAbort, CanaryEntry, CanaryRequest, CanaryShare, StatsAnswer, VersionStats,
    DEFAULT_CANARY_COOKIE, DEFAULT_CANARY_HEADER,
};
pub use paths::{
    service_path, Endpoint, CONTAINER_NEXT_SOCKET, CONTAINER_PORTS_SOCKET, CONTAINER_SOCKET,
    CONTAINER_SOCKET_DIR, HANDOVER_PATH, HEALTH_PATH, HOST_NEXT_SOCKET, HOST_SOCKET,
    HOST_SOCKET_DIR, PROMOTE_PATH, SERVICES_PATH,
};
pub use request::{
    BakeSpec, Buffering, DeployRequest, HealthSpec, StopRequest, DEFAULT_BAKE_MIN_REQUESTS,
    DEFAULT_BUFFER_MEMORY, DEFAULT_DEPLOY_TIMEOUT_MS, DEFAULT_DRAIN_TIMEOUT_MS,
    DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_PATH, DEFAULT_HEALTH_TIMEOUT_MS,
};
pub use response::{
    AcmeStatus, DeployAnswer, ErrorBody, HealthAnswer, ModeAnswer, RemoveAnswer, ServiceEntry,
    ServiceList, TargetEntry,
};
pub use traffic::{RateKey, RateLimit, Traffic};
