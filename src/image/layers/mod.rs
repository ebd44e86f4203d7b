//! Registry-free delivery that sends only missing layers (`delivery = "layers"`, the default
//! without a registry): the deployer's blob cache (deterministic gzip layers keyed by
//! diff-id, `cache.rs`), the export of a local image into it with its registry manifest built
//! (`export.rs`, reading `docker save`'s manifest.json, which both the legacy and the OCI save
//! layout write; `manifest.rs`), blob `Range` parsing (`range.rs`), the read-only registry
//! endpoint that serves a prepared image and counts the bytes it sent (`serve.rs`), and one
//! host's delivery through a reverse tunnel with the whole-image stream as its fallback
//! (`deliver.rs`).

pub mod cache;
pub mod deliver;
pub mod export;
pub mod manifest;
pub mod range;
pub mod serve;
