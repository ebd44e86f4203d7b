//! The deploy config: schema, loading with destinations, secrets, validation with
//! `file:line:column` errors, and the mapping to what commands use (selected hosts, settings).

pub mod accessories;
pub mod interpolate;
pub mod load;
pub mod locate;
pub mod schema;
pub mod secrets;
pub mod select;
pub mod types;
pub mod validate;

pub use load::{load, Loaded};

#[cfg(test)]
mod fuzz_tests;
