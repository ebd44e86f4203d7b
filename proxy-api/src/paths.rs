//! Where the control API lives: the unix socket on the host (reached by the CLI through SSH)
//! and inside the proxy container, and the endpoints: `service_path` builds them for the
//! client, `Endpoint::parse` reads them for the server, so the two agree by construction.

/// The directory of the control socket on every host (bind-mounted into the proxy container
/// at `CONTAINER_SOCKET_DIR`).
pub const HOST_SOCKET_DIR: &str = "/var/run/dhow-proxy";
/// The control socket on every host.
pub const HOST_SOCKET: &str = "/var/run/dhow-proxy/control.sock";
/// The directory of the control socket inside the proxy container.
pub const CONTAINER_SOCKET_DIR: &str = "/run/dhow-proxy";
/// The control socket inside the proxy container (`dhow-proxy --control`'s default).
pub const CONTAINER_SOCKET: &str = "/run/dhow-proxy/control.sock";
/// A replacement proxy's control socket while it stands by (it takes `CONTAINER_SOCKET`
/// when promoted), inside the container and on the host.
pub const CONTAINER_NEXT_SOCKET: &str = "/run/dhow-proxy/control-next.sock";
pub const HOST_NEXT_SOCKET: &str = "/var/run/dhow-proxy/control-next.sock";
/// The port holder's socket (it hands the listening sockets to proxy processes).
pub const CONTAINER_PORTS_SOCKET: &str = "/run/dhow-proxy/ports.sock";

/// `POST`: stop accepting and finish every connection, for the replacement (see the proxy's
/// `drain.rs`); mutating requests are refused from then on.
pub const HANDOVER_PATH: &str = "/v1/handover";
/// `POST`: a standing-by replacement takes over the state and the control socket.
pub const PROMOTE_PATH: &str = "/v1/promote";

/// `GET`: is the proxy up?
pub const HEALTH_PATH: &str = "/v1/health";
/// `GET`: the routing table (`ServiceList`).
pub const SERVICES_PATH: &str = "/v1/services";

/// Path of a service's endpoint in the control API: `action` is `deploy`, `pause`, `stop` or
/// `resume` (all `POST`); none is the service itself (`DELETE` removes it).
pub fn service_path(service: &str, action: Option<&str>) -> String {
    match action {
        Some(a) => format!("{SERVICES_PATH}/{service}/{a}"),
        None => format!("{SERVICES_PATH}/{service}"),
    }
}

/// One control endpoint, as the proxy serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    Health,
    List,
    Deploy(&'a str),
    Remove(&'a str),
    Pause(&'a str),
    Stop(&'a str),
    Resume(&'a str),
    /// A canary rollout: start (or replace), new share, abort; the service's counters.
    CanaryStart(&'a str),
    CanaryShare(&'a str),
    CanaryAbort(&'a str),
    Stats(&'a str),
    /// A deploy's bake window: how it goes, or how it went.
    Bake(&'a str),
    Handover,
    Promote,
}

impl<'a> Endpoint<'a> {
    /// The endpoint a request's method and path name, if any. Slashes around the path are
    /// ignored, so `/v1/health/` is `/v1/health`.
    pub fn parse(method: &str, path: &'a str) -> Option<Endpoint<'a>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        Some(match (method, parts.as_slice()) {
            ("GET", ["v1", "health"]) => Endpoint::Health,
            ("GET", ["v1", "services"]) => Endpoint::List,
            ("POST", ["v1", "services", name, "deploy"]) => Endpoint::Deploy(name),
            ("DELETE", ["v1", "services", name]) => Endpoint::Remove(name),
            ("POST", ["v1", "services", name, "pause"]) => Endpoint::Pause(name),
            ("POST", ["v1", "services", name, "stop"]) => Endpoint::Stop(name),
            ("POST", ["v1", "services", name, "resume"]) => Endpoint::Resume(name),
            ("POST", ["v1", "services", name, "canary"]) => Endpoint::CanaryStart(name),
            ("POST", ["v1", "services", name, "canary", "share"]) => Endpoint::CanaryShare(name),
            ("POST", ["v1", "services", name, "canary", "abort"]) => Endpoint::CanaryAbort(name),
            ("GET", ["v1", "services", name, "stats"]) => Endpoint::Stats(name),
            ("GET", ["v1", "services", name, "bake"]) => Endpoint::Bake(name),
            ("POST", ["v1", "handover"]) => Endpoint::Handover,
            ("POST", ["v1", "promote"]) => Endpoint::Promote,
            _ => return None,
        })
    }

    /// The HTTP method of the endpoint.
    pub fn method(&self) -> &'static str {
        match self {
            Endpoint::Health | Endpoint::List | Endpoint::Stats(_) | Endpoint::Bake(_) => "GET",
            Endpoint::Remove(_) => "DELETE",
            _ => "POST",
        }
    }

    /// The path of the endpoint (what a client puts in its request line).
    pub fn path(&self) -> String {
        match self {
            Endpoint::Health => HEALTH_PATH.to_string(),
            Endpoint::List => SERVICES_PATH.to_string(),
            Endpoint::Deploy(s) => service_path(s, Some("deploy")),
            Endpoint::Remove(s) => service_path(s, None),
            Endpoint::Pause(s) => service_path(s, Some("pause")),
            Endpoint::Stop(s) => service_path(s, Some("stop")),
            Endpoint::Resume(s) => service_path(s, Some("resume")),
            Endpoint::CanaryStart(s) => service_path(s, Some("canary")),
            Endpoint::CanaryShare(s) => service_path(s, Some("canary/share")),
            Endpoint::CanaryAbort(s) => service_path(s, Some("canary/abort")),
            Endpoint::Stats(s) => service_path(s, Some("stats")),
            Endpoint::Bake(s) => service_path(s, Some("bake")),
            Endpoint::Handover => HANDOVER_PATH.to_string(),
            Endpoint::Promote => PROMOTE_PATH.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            service_path("demo", Some("deploy")),
            "/v1/services/demo/deploy"
        );
        assert_eq!(service_path("demo", None), "/v1/services/demo");
        assert_eq!(
            HOST_SOCKET,
            format!("{HOST_SOCKET_DIR}/control.sock").as_str()
        );
        assert_eq!(
            CONTAINER_SOCKET,
            format!("{CONTAINER_SOCKET_DIR}/control.sock").as_str()
        );
    }

    #[test]
    fn every_endpoint_parses_back_from_its_method_and_path() {
        for e in [
            Endpoint::Health,
            Endpoint::List,
            Endpoint::Deploy("web"),
            Endpoint::Remove("web"),
            Endpoint::Pause("web"),
            Endpoint::Stop("web"),
            Endpoint::Resume("web"),
            Endpoint::CanaryStart("web"),
            Endpoint::CanaryShare("web"),
            Endpoint::CanaryAbort("web"),
            Endpoint::Stats("web"),
            Endpoint::Bake("web"),
        ] {
            let path = e.path();
            assert_eq!(Endpoint::parse(e.method(), &path), Some(e), "{path}");
        }
    }

    #[test]
    fn what_the_cli_builds_is_what_the_proxy_serves() {
        for action in ["deploy", "pause", "stop", "resume"] {
            let path = service_path("demo-web", Some(action));
            let e = Endpoint::parse("POST", &path);
            assert!(e.is_some(), "{path}");
        }
        assert_eq!(
            Endpoint::parse("DELETE", &service_path("demo-web", None)),
            Some(Endpoint::Remove("demo-web"))
        );
    }

    #[test]
    fn surrounding_slashes_are_ignored_and_the_rest_is_exact() {
        assert_eq!(
            Endpoint::parse("GET", "/v1/health/"),
            Some(Endpoint::Health)
        );
        assert_eq!(Endpoint::parse("GET", "v1/services"), Some(Endpoint::List));
        assert_eq!(Endpoint::parse("POST", "/v1/health"), None);
        assert_eq!(Endpoint::parse("get", "/v1/health"), None);
        assert_eq!(Endpoint::parse("POST", "/v1/services/a/b/deploy"), None);
        assert_eq!(Endpoint::parse("POST", "/v1/services/a/restart"), None);
        assert_eq!(Endpoint::parse("GET", "/v2/health"), None);
    }
}
