//! The proxy's containers on a host and how each is created. `dhow-proxy-ports` (the port
//! holder: publishes the host's ports, opens the listening sockets once and hands them to
//! proxy processes, see the proxy's `ports_holder.rs`) and `dhow-proxy` (the proxy itself, on
//! the dhow network, taking its sockets from the holder). During a replacement the new proxy
//! runs as `dhow-proxy-next` and the old one finishes its connections as `dhow-proxy-old`.
//! Both proxy containers have the same command: one that finds another proxy on the control
//! socket stands by until promoted, one that finds none takes the socket at once (see
//! `replace.rs`).

use crate::docker::labels::{
    LABEL_PROXY, LABEL_PROXY_BOOT, LABEL_PROXY_PORTS, LABEL_PROXY_VERSION,
};
use crate::docker::network::NETWORK;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, HostConfigLogConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use dhow_proxy_api::{
    CONTAINER_NEXT_SOCKET, CONTAINER_PORTS_SOCKET, CONTAINER_SOCKET, CONTAINER_SOCKET_DIR,
    HOST_SOCKET_DIR,
};
use std::collections::HashMap;

use super::boot_options::BootOptions;

/// The proxy container's name on every host.
pub const CONTAINER: &str = "dhow-proxy";
/// The port holder's container.
pub const PORTS_CONTAINER: &str = "dhow-proxy-ports";
/// A replacement proxy while it starts and stands by.
pub const NEXT_CONTAINER: &str = "dhow-proxy-next";
/// A replaced proxy while it finishes its connections.
pub const OLD_CONTAINER: &str = "dhow-proxy-old";
/// The proxy's state volume.
pub const STATE_VOLUME: &str = "dhow-proxy-state";
/// How long Docker waits after SIGTERM before killing a proxy (its in-flight requests and
/// lingering connections get this long; see the proxy's `drain.rs`).
const STOP_TIMEOUT_S: i64 = 40;

fn restart_unless_stopped() -> Option<RestartPolicy> {
    Some(RestartPolicy {
        name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
        maximum_retry_count: None,
    })
}

/// Docker's log options for the proxy containers: the access log writes a line per request,
/// so the file is rotated at `log_max_size` (the daemon's default driver, as Kamal does).
fn log_config(options: &BootOptions) -> Option<HostConfigLogConfig> {
    Some(HostConfigLogConfig {
        typ: None,
        config: Some(HashMap::from([(
            "max-size".to_string(),
            options.log_max_size.clone(),
        )])),
    })
}

fn labels(options: &BootOptions, extra: Option<(&str, String)>) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (LABEL_PROXY.to_string(), "true".to_string()),
        (
            LABEL_PROXY_VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            LABEL_PROXY_BOOT.to_string(),
            serde_json::to_string(options).unwrap_or_default(),
        ),
    ]);
    if let Some((k, v)) = extra {
        labels.insert(k.to_string(), v);
    }
    labels
}

/// The port holder: publishes the ports and holds their sockets.
pub fn holder_body(tag: &str, options: &BootOptions) -> ContainerCreateBody {
    let mut cmd = vec![
        "hold".to_string(),
        "--socket".to_string(),
        CONTAINER_PORTS_SOCKET.to_string(),
    ];
    cmd.extend(options.hold_args());
    let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for (addr, host_port, container_port) in options.published() {
        ports
            .entry(format!("{container_port}/tcp"))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: (!addr.is_empty()).then_some(addr),
                host_port: Some(host_port.to_string()),
            });
    }
    ContainerCreateBody {
        image: Some(tag.to_string()),
        cmd: Some(cmd),
        labels: Some(labels(
            options,
            Some((LABEL_PROXY_PORTS, options.holder_key())),
        )),
        exposed_ports: Some(ports.keys().cloned().collect()),
        host_config: Some(HostConfig {
            restart_policy: restart_unless_stopped(),
            binds: Some(vec![format!("{HOST_SOCKET_DIR}:{CONTAINER_SOCKET_DIR}")]),
            port_bindings: Some(ports),
            log_config: log_config(options),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A proxy process taking its sockets from the holder; `control_gid`: the group allowed to
/// use the control socket.
pub fn proxy_body(
    tag: &str,
    options: &BootOptions,
    control_gid: Option<u32>,
) -> ContainerCreateBody {
    let mut cmd: Vec<String> = vec![
        "--control".into(),
        CONTAINER_NEXT_SOCKET.into(),
        "run".into(),
        "--listen-from".into(),
        CONTAINER_PORTS_SOCKET.into(),
        "--takeover".into(),
        CONTAINER_SOCKET.into(),
    ];
    if let Some(gid) = control_gid {
        cmd.extend(["--control-gid".into(), gid.to_string()]);
    }
    cmd.extend(options.run_args());
    ContainerCreateBody {
        image: Some(tag.to_string()),
        cmd: Some(cmd),
        labels: Some(labels(options, None)),
        stop_timeout: Some(STOP_TIMEOUT_S),
        host_config: Some(HostConfig {
            network_mode: Some(NETWORK.into()),
            restart_policy: restart_unless_stopped(),
            binds: Some(vec![
                format!("{HOST_SOCKET_DIR}:{CONTAINER_SOCKET_DIR}"),
                format!("{STATE_VOLUME}:/var/lib/dhow-proxy"),
            ]),
            log_config: log_config(options),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Does this proxy container take its sockets from the port holder? (Proxies booted by an
/// older dhow publish the ports themselves: replacing one has a gap, once.)
pub fn is_held(info: &ContainerInspectResponse) -> bool {
    info.config
        .as_ref()
        .and_then(|c| c.cmd.as_ref())
        .is_some_and(|cmd| cmd.iter().any(|a| a == "--listen-from"))
}

/// The settings a proxy container was started with, when it says.
pub fn recorded(info: &ContainerInspectResponse) -> Option<BootOptions> {
    let labels = info.config.as_ref()?.labels.as_ref()?;
    serde_json::from_str(labels.get(LABEL_PROXY_BOOT)?).ok()
}

/// The image a container runs (as it was asked for).
pub fn image_of(info: &ContainerInspectResponse) -> Option<String> {
    info.config.as_ref()?.image.clone()
}

/// Is the container running?
pub fn running(info: &ContainerInspectResponse) -> bool {
    info.state.as_ref().and_then(|s| s.running) == Some(true)
}

/// What the holder publishes, by its label.
pub fn holder_key_of(info: &ContainerInspectResponse) -> Option<String> {
    info.config
        .as_ref()?
        .labels
        .as_ref()?
        .get(LABEL_PROXY_PORTS)
        .cloned()
}
