//! What the proxy answers: the routing table (`list`), the outcome of a deploy, a removal or
//! a mode change, its health, and the body of every refusal. Each struct's fields are in
//! alphabetical order, which is the order the proxy has always written them in (serde_json's
//! sorted maps); reading is lenient (every field defaults) so a CLI can read an older proxy.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /v1/services`: every service the proxy routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceList {
    pub services: Vec<ServiceEntry>,
}

/// One service in `list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceEntry {
    /// With automatic certificates: each host name's certificate; none without.
    pub acme: Option<BTreeMap<String, AcmeStatus>>,
    /// A canary rollout running beside the current target(s); left out without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::canary::CanaryEntry>,
    /// The current target answers its health check.
    pub healthy: bool,
    pub hosts: Vec<String>,
    /// Requests to the current target not yet answered.
    pub inflight: u64,
    /// The maintenance page's message, when stopped with one.
    pub message: Option<String>,
    /// `live`, `paused` or `stopped`.
    pub mode: String,
    pub name: String,
    pub path_prefix: Option<String>,
    /// Every path prefix routed, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
    /// The current target, `HOST:PORT`.
    pub target: String,
    /// With several targets (replicas): each of them; left out with one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetEntry>,
    /// The certificate file the service's hosts are served with, if given one.
    pub tls: Option<String>,
}

/// One of a service's several targets in `list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TargetEntry {
    /// Answers its health check and takes requests (not taken out after a refused or reset
    /// connection or a failed check).
    pub healthy: bool,
    /// Requests to it not yet answered.
    pub inflight: u64,
    /// `HOST:PORT`.
    pub target: String,
}

/// The state of one host name's automatic certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AcmeStatus {
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// When the certificate expires, in seconds since the Unix epoch.
    pub expires: Option<u64>,
    /// Seconds until the next attempt after a failure.
    pub retry_in_s: Option<u64>,
    /// One of `AcmeStatus::OBTAINING`, `VALID`, `FAILED`, `PENDING`.
    pub state: String,
}

impl AcmeStatus {
    pub const OBTAINING: &'static str = "obtaining";
    pub const VALID: &'static str = "valid";
    pub const FAILED: &'static str = "failed";
    pub const PENDING: &'static str = "pending";
}

/// The answer to a deploy, given after the switch and the drain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployAnswer {
    /// With `acme`: a note that certificates are being obtained. A proxy that predates
    /// automatic certificates leaves it out (or null), which is how a client tells.
    pub acme: Option<String>,
    /// With a bake window: its length; the previous targets keep running, unrouted, until
    /// it ends (`GET .../bake` says how it goes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baking_ms: Option<u64>,
    /// The target the service had before, if any.
    pub previous: Option<String>,
    /// Every target it had before, when it had several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previous_targets: Vec<String>,
    pub service: String,
    pub target: String,
    /// Every target it has now, when it has several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Requests to the previous target still running when the drain timed out.
    pub unfinished_after_drain: u64,
}

/// The answer to `DELETE /v1/services/NAME`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RemoveAnswer {
    pub removed: bool,
    pub service: String,
}

/// The answer to pause, stop and resume: the service's mode now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ModeAnswer {
    pub mode: String,
    pub service: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HealthAnswer {
    /// The proxy runs a deploy's bake window (`bake`); an older one would drain at once.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bake: bool,
    /// The proxy runs canary rollouts (`/canary` endpoints, `stats`); an older one does not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub canary: bool,
    pub ok: bool,
    /// The proxy balances over a deploy's `targets` (replicas); an older one leaves it out,
    /// and would route to `target` alone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replicas: bool,
    /// The proxy applies a deploy's `response_timeout_ms` and `buffering`; a proxy that
    /// predates them leaves it out (false), and would ignore them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub service_limits: bool,
    /// The proxy applies a deploy's `traffic` settings (path prefixes, rate limit, error
    /// pages, canonical host); an older one leaves it out, and would ignore them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub traffic: bool,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    /// Serializes in sorted key order (as the proxy's `json!` maps always did) and reads back.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) -> String {
        let text = serde_json::to_string(v).expect("serialize");
        let sorted = serde_json::to_value(v).expect("to value").to_string();
        assert_eq!(text, sorted, "fields out of alphabetical order");
        let back: T = serde_json::from_str(&text).expect("parse");
        assert_eq!(&back, v);
        text
    }

    fn entry() -> ServiceEntry {
        ServiceEntry {
            canary: None,
            acme: Some(BTreeMap::from([(
                "demo.test".to_string(),
                AcmeStatus {
                    error: None,
                    expires: Some(1_800_000_000),
                    retry_in_s: None,
                    state: AcmeStatus::VALID.into(),
                },
            )])),
            healthy: true,
            hosts: vec!["demo.test".into()],
            inflight: 2,
            message: None,
            mode: "live".into(),
            name: "demo-web".into(),
            path_prefix: Some("/api".into()),
            path_prefixes: Vec::new(),
            target: "demo-web-abc:3000".into(),
            targets: Vec::new(),
            tls: None,
        }
    }

    #[test]
    fn list_round_trips_in_the_order_the_proxy_writes() {
        let list = ServiceList {
            services: vec![entry(), ServiceEntry::default()],
        };
        let text = round_trip(&list);
        assert!(text.starts_with(r#"{"services":[{"acme":{"demo.test":{"error":null,"expires":1800000000,"retry_in_s":null,"state":"valid"}},"healthy":true,"#));
    }

    #[test]
    fn every_answer_round_trips() {
        let deploy = DeployAnswer {
            acme: None,
            baking_ms: None,
            previous: Some("demo-web-old:3000".into()),
            previous_targets: Vec::new(),
            service: "demo-web".into(),
            target: "demo-web-abc:3000".into(),
            targets: Vec::new(),
            unfinished_after_drain: 0,
        };
        assert_eq!(
            round_trip(&deploy),
            r#"{"acme":null,"previous":"demo-web-old:3000","service":"demo-web","target":"demo-web-abc:3000","unfinished_after_drain":0}"#
        );
        let removed = RemoveAnswer {
            removed: true,
            service: "demo-web".into(),
        };
        assert_eq!(
            round_trip(&removed),
            r#"{"removed":true,"service":"demo-web"}"#
        );
        let mode = ModeAnswer {
            mode: "paused".into(),
            service: "demo-web".into(),
        };
        assert_eq!(
            round_trip(&mode),
            r#"{"mode":"paused","service":"demo-web"}"#
        );
        let old = HealthAnswer {
            bake: false,
            canary: false,
            ok: true,
            replicas: false,
            service_limits: false,
            traffic: false,
        };
        assert_eq!(round_trip(&old), r#"{"ok":true}"#);
        let now = HealthAnswer {
            bake: true,
            canary: true,
            ok: true,
            replicas: true,
            service_limits: true,
            traffic: true,
        };
        assert_eq!(
            round_trip(&now),
            r#"{"bake":true,"canary":true,"ok":true,"replicas":true,"service_limits":true,"traffic":true}"#
        );
        let several = DeployAnswer {
            targets: vec!["w:1".into(), "w-r2:1".into()],
            previous_targets: vec!["v:1".into(), "v-r2:1".into()],
            ..deploy
        };
        assert!(round_trip(&several).contains(
            r#""previous_targets":["v:1","v-r2:1"],"service":"demo-web","target":"demo-web-abc:3000","targets":["w:1","w-r2:1"]"#
        ));
        let refused = ErrorBody {
            error: "no service x".into(),
        };
        assert_eq!(round_trip(&refused), r#"{"error":"no service x"}"#);
    }

    #[test]
    fn an_older_proxys_answers_still_parse() {
        // A list from before modes and certificates, and a deploy answer without `acme`.
        let list: ServiceList = serde_json::from_str(
            r#"{"services":[{"name":"w","hosts":[],"path_prefix":null,"target":"w:1",
                "healthy":true,"inflight":0,"extra":1}]}"#,
        )
        .expect("parse");
        assert_eq!(list.services[0].name, "w");
        assert_eq!(list.services[0].mode, "");
        assert_eq!(list.services[0].acme, None);
        let deploy: DeployAnswer =
            serde_json::from_str(r#"{"service":"w","target":"w:1","previous":null}"#)
                .expect("parse");
        assert_eq!(deploy.acme, None);
        let empty: ServiceList = serde_json::from_str("{}").expect("parse");
        assert!(empty.services.is_empty());
    }
}
