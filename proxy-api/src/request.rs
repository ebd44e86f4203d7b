//! What a client sends the proxy: a deploy (target, routing, health check, timeouts,
//! certificates) and a stop (maintenance message). The proxy fills in what an older or
//! terser client leaves out, ignores fields it does not know, and only requires `target`.

use serde::{Deserialize, Serialize};

/// The health path the proxy checks when a deploy names none.
pub const DEFAULT_HEALTH_PATH: &str = "/up";
/// How often the proxy checks a new target's health, unless told.
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 1000;
/// How long one health check may take, unless told.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 5000;
/// How long a new target has to become healthy, unless told.
pub const DEFAULT_DEPLOY_TIMEOUT_MS: u64 = 30_000;
/// How long in-flight requests to the old target may take to finish, unless told.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 30_000;

/// What a buffered body may hold when a deploy's `buffering` names no `memory`: the proxy
/// never spills a body to disk, so a larger buffered body is refused.
pub const DEFAULT_BUFFER_MEMORY: u64 = 1024 * 1024;

/// How a service's bodies are limited and buffered (`[proxy.buffering]` of the config).
/// Every field is optional on the wire and left out when unset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Buffering {
    /// Read the whole request body before the request goes to the target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requests: bool,
    /// Read the whole response body before any of it goes to the client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub responses: bool,
    /// Largest request body in bytes (413 above it); 0 = no limit; none = the proxy's
    /// `--max-body-bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body: Option<u64>,
    /// Largest response body in bytes (502 above it); 0 or none = no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_body: Option<u64>,
    /// Largest buffered body in bytes (none = [`DEFAULT_BUFFER_MEMORY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
}

/// Health check settings of a service: `GET path` must answer 2xx within `timeout_ms`; it is
/// tried every `interval_ms`. Also kept in the proxy's state file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthSpec {
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_health_path() -> String {
    DEFAULT_HEALTH_PATH.into()
}
fn default_interval() -> u64 {
    DEFAULT_HEALTH_INTERVAL_MS
}
fn default_timeout() -> u64 {
    DEFAULT_HEALTH_TIMEOUT_MS
}
pub(crate) fn default_deploy_timeout() -> u64 {
    DEFAULT_DEPLOY_TIMEOUT_MS
}
pub(crate) fn default_drain_timeout() -> u64 {
    DEFAULT_DRAIN_TIMEOUT_MS
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            path: default_health_path(),
            interval_ms: default_interval(),
            timeout_ms: default_timeout(),
        }
    }
}

/// What `deploy` asks the proxy to do for one service (`POST /v1/services/NAME/deploy`):
/// health-check `target`, switch the service to it, drain the old one.
///
/// On the wire, the optional TLS fields and a false `acme` are left out, so a request without
/// them is byte for byte what an older dhow sent; `path_prefix` is always written (null when
/// none).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeployRequest {
    /// The new target, `HOST:PORT` (the container's name on the app network).
    pub target: String,
    /// With several containers (replicas): every new target, `target` first. The proxy
    /// health-checks each, switches to all of them at once and balances over them. Left out
    /// with one, so such a request is what an older dhow sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Host names routed to the service (exact or `*.example.com`); none = every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Remove the path prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    #[serde(default)]
    pub health: HealthSpec,
    #[serde(default = "default_deploy_timeout")]
    pub deploy_timeout_ms: u64,
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: u64,
    /// Paths, inside the proxy container, of the PEM certificate chain and key for the hosts
    /// (both or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// With a certificate: redirect plain HTTP to HTTPS (none = yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_redirect: Option<bool>,
    /// The proxy obtains certificates for the hosts itself (ACME).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acme: bool,
    /// How long the target has to start its response (504 after); none = the proxy's
    /// `--response-timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout_ms: Option<u64>,
    /// Body limits and buffering; none = the proxy's defaults (streamed, `--max-body-bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffering: Option<Buffering>,
    /// Several path prefixes, a rate limit, error pages, a canonical host (none: left out).
    #[serde(flatten)]
    pub traffic: crate::traffic::Traffic,
    /// Keep the old targets, unrouted, and judge the new ones for a while (none: drain the
    /// old ones at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<BakeSpec>,
}

impl DeployRequest {
    /// Every target the request names: `targets`, or `target` alone.
    pub fn all_targets(&self) -> Vec<String> {
        if self.targets.is_empty() {
            vec![self.target.clone()]
        } else {
            self.targets.clone()
        }
    }
}

/// The body of `POST /v1/services/NAME/stop`: the message of the maintenance page. An empty
/// body means no message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StopRequest {
    #[serde(default)]
    pub message: Option<String>,
}

/// Judge the new targets for `window_ms` after the switch: past a limit (and worse than the
/// old targets did), the proxy switches back by itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BakeSpec {
    pub window_ms: u64,
    /// Largest share of 5xx answers, 0 to 1.
    pub max_error_rate: f64,
    /// Largest p99 (the upper bound of its latency bucket), none: not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<u64>,
    /// Fewer requests than this are not judged.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

pub const DEFAULT_BAKE_MIN_REQUESTS: u64 = 20;

fn default_min_requests() -> u64 {
    DEFAULT_BAKE_MIN_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli_request() -> DeployRequest {
        DeployRequest {
            target: "demo-web-abc:3000".into(),
            targets: Vec::new(),
            hosts: vec!["demo.test".into()],
            path_prefix: None,
            strip_prefix: false,
            health: HealthSpec {
                path: "/health".into(),
                interval_ms: 500,
                timeout_ms: 2000,
            },
            deploy_timeout_ms: 10_000,
            drain_timeout_ms: 5_000,
            tls_cert: None,
            tls_key: None,
            tls_redirect: None,
            acme: false,
            response_timeout_ms: None,
            buffering: None,
            traffic: Default::default(),
            bake: None,
        }
    }

    #[test]
    fn a_plain_deploy_request_is_written_as_dhow_always_wrote_it() {
        let json = serde_json::to_string(&cli_request()).expect("serialize");
        assert_eq!(
            json,
            r#"{"target":"demo-web-abc:3000","hosts":["demo.test"],"path_prefix":null,"strip_prefix":false,"health":{"path":"/health","interval_ms":500,"timeout_ms":2000},"deploy_timeout_ms":10000,"drain_timeout_ms":5000}"#
        );
    }

    #[test]
    fn deploy_request_round_trips_with_every_field() {
        let mut req = cli_request();
        req.path_prefix = Some("/api".into());
        req.strip_prefix = true;
        req.tls_cert = Some("/var/lib/dhow-proxy/certs/web/cert.pem".into());
        req.tls_key = Some("/var/lib/dhow-proxy/certs/web/key.pem".into());
        req.tls_redirect = Some(false);
        req.acme = true;
        req.response_timeout_ms = Some(45_000);
        req.buffering = Some(Buffering {
            requests: true,
            responses: true,
            max_request_body: Some(10),
            max_response_body: Some(20),
            memory: Some(30),
        });
        let json = serde_json::to_string(&req).expect("serialize");
        for field in [
            "\"tls_cert\"",
            "\"tls_key\"",
            "\"tls_redirect\":false",
            "\"acme\":true",
            "\"response_timeout_ms\":45000",
            r#""buffering":{"requests":true,"responses":true,"max_request_body":10,"max_response_body":20,"memory":30}"#,
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
        let back: DeployRequest = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, req);
        let plain: DeployRequest =
            serde_json::from_str(&serde_json::to_string(&cli_request()).expect("serialize"))
                .expect("parse");
        assert_eq!(plain, cli_request());
    }

    #[test]
    fn only_the_target_is_required_and_the_rest_takes_the_proxy_defaults() {
        let req: DeployRequest = serde_json::from_str(r#"{"target":"a:1"}"#).expect("parse");
        assert_eq!(req.target, "a:1");
        assert!(req.hosts.is_empty());
        assert_eq!(req.path_prefix, None);
        assert!(!req.strip_prefix);
        assert_eq!(req.health, HealthSpec::default());
        assert_eq!(req.health.path, "/up");
        assert_eq!(req.health.interval_ms, 1000);
        assert_eq!(req.health.timeout_ms, 5000);
        assert_eq!(req.deploy_timeout_ms, 30_000);
        assert_eq!(req.drain_timeout_ms, 30_000);
        assert_eq!(
            (req.tls_cert, req.tls_key, req.tls_redirect),
            (None, None, None)
        );
        assert!(!req.acme);
        assert_eq!((req.response_timeout_ms, req.buffering), (None, None));
        let missing = serde_json::from_str::<DeployRequest>(r#"{"hosts":["a.test"]}"#);
        assert!(missing.is_err_and(|e| e.to_string().contains("missing field `target`")));
    }

    #[test]
    fn an_older_clients_request_still_parses() {
        // What dhow sent before `acme`, `tls_redirect` and the TLS files existed, with a
        // field this proxy does not know: defaults fill the gaps, unknown fields are ignored.
        let old = r#"{"target":"a:1","hosts":[],"path_prefix":null,"strip_prefix":false,
            "health":{"path":"/up","interval_ms":1000,"timeout_ms":5000},
            "deploy_timeout_ms":1000,"drain_timeout_ms":2000,"some_future_field":1}"#;
        let req: DeployRequest = serde_json::from_str(old).expect("parse");
        assert_eq!(req.deploy_timeout_ms, 1000);
        assert_eq!(req.drain_timeout_ms, 2000);
        assert!(!req.acme);
        assert_eq!(req.tls_redirect, None);
        assert_eq!((req.response_timeout_ms, req.buffering), (None, None));
    }

    #[test]
    fn several_targets_are_written_only_when_there_are_several() {
        let mut req = cli_request();
        req.targets = vec!["demo-web-abc:3000".into(), "demo-web-abc-r2:3000".into()];
        let json = serde_json::to_string(&req).expect("serialize");
        assert!(
            json.starts_with(
                r#"{"target":"demo-web-abc:3000","targets":["demo-web-abc:3000","demo-web-abc-r2:3000"],"hosts""#
            ),
            "{json}"
        );
        let back: DeployRequest = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, req);
        assert_eq!(back.all_targets(), req.targets);
        assert_eq!(cli_request().all_targets(), ["demo-web-abc:3000"]);
    }

    #[test]
    fn a_partial_buffering_table_leaves_the_rest_unset() {
        let req: DeployRequest =
            serde_json::from_str(r#"{"target":"a:1","buffering":{"max_request_body":5}}"#)
                .expect("parse");
        let b = req.buffering.expect("buffering");
        assert_eq!(b.max_request_body, Some(5));
        assert!(!b.requests && !b.responses);
        assert_eq!((b.max_response_body, b.memory), (None, None));
        let json = serde_json::to_string(&Buffering::default()).expect("serialize");
        assert_eq!(json, "{}");
    }

    #[test]
    fn a_partial_health_spec_takes_defaults_per_field() {
        let h: HealthSpec = serde_json::from_str(r#"{"path":"/ping"}"#).expect("parse");
        assert_eq!(
            h,
            HealthSpec {
                path: "/ping".into(),
                interval_ms: 1000,
                timeout_ms: 5000
            }
        );
        let h: HealthSpec = serde_json::from_str("{}").expect("parse");
        assert_eq!(h, HealthSpec::default());
        let json = serde_json::to_string(&HealthSpec::default()).expect("serialize");
        assert_eq!(
            json,
            r#"{"path":"/up","interval_ms":1000,"timeout_ms":5000}"#
        );
    }

    #[test]
    fn stop_request_round_trips_and_defaults_to_no_message() {
        let stop = StopRequest {
            message: Some("back soon".into()),
        };
        let json = serde_json::to_string(&stop).expect("serialize");
        assert_eq!(json, r#"{"message":"back soon"}"#);
        assert_eq!(
            serde_json::from_str::<StopRequest>(&json).expect("parse"),
            stop
        );
        let none = serde_json::to_string(&StopRequest::default()).expect("serialize");
        assert_eq!(none, r#"{"message":null}"#);
        let empty: StopRequest = serde_json::from_str("{}").expect("parse");
        assert_eq!(empty, StopRequest::default());
    }
}
