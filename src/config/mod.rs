//! The deploy config: schema, loading with destinations, secrets, validation per section with
//! `file:line:column` errors, and which hosts a [`Selection`] picks. A floor: it uses no CLI,
//! deploy or accessory types (those read the config: `deploy::from_config`,
//! `accessory::from_config`); only `host::ssh` for the SSH target and options types.

pub mod accessories;
pub mod child;
pub mod choices;
pub mod dotenv;
pub mod interpolate;
pub mod json_schema;
pub mod kamal;
pub mod load;
pub mod locate;
pub mod schema;
pub mod secrets;
pub mod select;
pub mod server_host;
pub mod servers_schema;
pub mod types;
pub mod validate;

pub use load::{load, Loaded};
pub use select::Selection;

#[cfg(test)]
mod fuzz_tests;
