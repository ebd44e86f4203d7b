//! What dhow calls its app containers (the rules live in host/names.rs, beside the state
//! directory that uses them; re-exported here for the deploy's code). The container itself
//! (spec, labels, create body) is the Engine's business and lives in docker/spec.rs; it is
//! re-exported here so the deploy's own code keeps one import for "a container".

pub use crate::docker::labels::LABEL_SERVICE;
pub use crate::docker::spec::{ContainerSpec, CronRun};
pub use crate::host::names::{container_name, legacy_prefix, parts, role_prefix, state_key};
