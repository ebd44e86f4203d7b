//! Registry-free delivery that sends only missing layers (issue 18), in progress. What exists:
//! the deployer's blob cache (deterministic gzip layers keyed by diff-id, `cache.rs`), the
//! export of a local image into it with its registry manifest built (`export.rs`, reading
//! `docker save`'s manifest.json, which both the legacy and the OCI save layout write;
//! `manifest.rs`), blob `Range` parsing (`range.rs`) and the read-only registry endpoint that
//! serves a prepared image and counts the bytes it sent (`serve.rs`). Not built yet: the
//! per-host pull through a reverse tunnel, the tag swap, the fallback, and the wiring into
//! `Delivery::Ssh`; deploys still stream the whole image (src/image/transfer.rs).

pub mod cache;
pub mod export;
pub mod manifest;
pub mod range;
pub mod serve;
