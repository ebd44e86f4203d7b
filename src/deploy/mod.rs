//! Deploying: plan what runs where, then execute it per host (boot, health-gated switch
//! through the proxy, stop and prune the old), under the deploy lock, with an audit trail.

pub mod audit;
pub mod boot;
pub mod container;
pub mod delivery;
pub mod engine;
pub mod envfile;
pub mod execute;
pub mod host;
pub mod lock;
pub mod network;
pub mod plan;
pub mod proxy;
pub mod proxy_image;
pub mod settings;
