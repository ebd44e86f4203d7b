//! Deploying: plan what runs where (plain data with typed steps), then execute those steps per
//! host (boot, health-gated switch through the proxy, stop and prune the old), under the deploy
//! lock, with an audit trail.

pub mod audit;
pub mod bake;
pub mod boot;
pub mod container;
pub mod cron;
pub mod delivery;
pub mod describe;
pub mod envfile;
pub mod execute;
pub mod from_config;
pub mod host_files;
pub mod host_ops;
pub mod lock;
pub mod plan;
pub mod role_env;
pub mod role_route;
pub mod rollback;
pub mod routes;
pub mod settings;
pub mod steps;
pub mod targets;
pub mod traffic;
pub mod undo;

#[cfg(test)]
mod execute_tests;
#[cfg(test)]
mod fake_host;
