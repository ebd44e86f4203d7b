//! The label keys dhow puts on the containers it starts, in one place: the Engine is asked
//! for "the containers of this service / role / accessory" by these labels, so docker/ owns
//! them and every layer above reads them from here.

/// The app (service) a container belongs to.
pub const LABEL_SERVICE: &str = "dhow.service";
/// The role of an app container (`web`, `worker`).
pub const LABEL_ROLE: &str = "dhow.role";
/// The destination (`staging`), empty for none.
pub const LABEL_DESTINATION: &str = "dhow.destination";
/// The version the container runs.
pub const LABEL_VERSION: &str = "dhow.version";

/// The accessory's name (`db`).
pub const LABEL_ACCESSORY: &str = "dhow.accessory";
/// The app (and destination) an accessory belongs to (`demo-staging`).
pub const LABEL_OWNER: &str = "dhow.accessory-of";

/// Marks the dhow-proxy container.
pub const LABEL_PROXY: &str = "dhow.proxy";
/// The dhow release that booted the proxy.
pub const LABEL_PROXY_VERSION: &str = "dhow.proxy.version";
/// The proxy settings a proxy container was started with (JSON of `BootOptions`).
pub const LABEL_PROXY_BOOT: &str = "dhow.proxy.boot";
/// On the port holder: what it publishes (a holder with other ports must be recreated).
pub const LABEL_PROXY_PORTS: &str = "dhow.proxy.ports";
