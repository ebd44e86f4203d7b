//! Everything the CLI says to dhow-proxy: the control client (control.rs), canary rollouts
//! (canary.rs), what an old proxy would ignore (capability.rs), the proxy on a host with its
//! TLS files (on_host.rs), its containers (layout.rs), waiting for it (ready.rs), replacing it
//! with no gap (replace.rs), its boot settings (boot_options.rs), and the proxy image dhow
//! makes from the static binary (image.rs).

pub mod boot_options;
pub mod canary;
pub mod capability;
pub mod control;
pub mod image;
pub mod layout;
pub mod on_host;
pub mod ready;
pub mod replace;
