//! Registry-free delivery that sends only missing layers (`delivery = "layers"`, the default
//! without a registry): the deployer's blob cache (deterministic gzip layers keyed by
//! diff-id, `cache.rs`), the export of a local image into it with its registry manifest built
//! (`export.rs`, reading `docker save`'s manifest.json, which both the legacy and the OCI save
//! layout write; `manifest.rs`), blob `Range` parsing (`range.rs`), the read-only registry
//! endpoint that serves a prepared image and counts the bytes it sent (`serve.rs`), resumable
//! staging of the missing layers on the host for its own `docker load` (`stage.rs`), and one
//! host's delivery: staged, else pulled through a reverse tunnel, else the whole-image stream
//! (`deliver.rs`).

pub mod cache;
pub mod deliver;
pub mod export;
pub mod manifest;
pub mod range;
pub mod serve;
pub mod stage;
mod stage_cmd;
