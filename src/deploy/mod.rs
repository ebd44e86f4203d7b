//! Deploying: plan what runs where, then execute it per host (boot, health-gated switch
//! through the proxy, stop and prune the old), under the deploy lock, with an audit trail.

pub mod audit;
pub mod boot;
pub mod container;
pub mod delivery;
pub mod envfile;
pub mod execute;
pub mod from_config;
pub mod lock;
pub mod plan;
pub mod settings;
