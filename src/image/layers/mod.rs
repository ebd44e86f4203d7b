//! Registry-free delivery that sends only missing layers (issue 18), in progress. What exists:
//! the deployer's blob cache (deterministic gzip layers keyed by diff-id, `cache.rs`), the
//! export of a local image into it with its registry manifest built (`export.rs`, reading
//! `docker save`'s manifest.json, which both the legacy and the OCI save layout write;
//! `manifest.rs`), and blob `Range` parsing (`range.rs`). Not built yet: the read-only
//! registry endpoint and its wiring into `Delivery::Ssh`; deploys still stream the whole
//! image (src/image/transfer.rs).

pub mod cache;
pub mod export;
pub mod manifest;
pub mod range;
