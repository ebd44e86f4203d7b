//! Registry-free delivery that sends only missing layers (issue 18), in progress: the pieces
//! that exist are the deployer's blob cache (deterministic gzip layers keyed by diff-id), the
//! reading of `docker save`'s manifest.json and the building of the registry manifest, and
//! the blob `Range` handling. The read-only registry endpoint and its wiring into
//! `Delivery::Ssh` are not built yet; deploys still stream the whole image
//! (src/image/transfer.rs).

pub mod cache;
pub mod manifest;
pub mod range;
