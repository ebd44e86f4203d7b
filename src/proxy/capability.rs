//! What a deploy asks of the proxy that an older proxy would accept and silently ignore, and
//! whether the proxy's health answer says it can do it. Decided *before* the switch, so a
//! proxy that is too old leaves the old version serving.

use crate::proxy::control::DeployRequest;
use dhow_proxy_api::HealthAnswer;

/// The part of `req` that `health`'s proxy would ignore, named for the user; `None` when it
/// can do everything asked. `service_limits` came after automatic certificates, so a proxy
/// that reports it also understands `acme`.
pub fn unsupported(req: &DeployRequest, health: &HealthAnswer) -> Option<&'static str> {
    if health.service_limits {
        return None;
    }
    if req.response_timeout_ms.is_some() || req.buffering.is_some() {
        return Some("proxy.response_timeout and proxy.buffering (it would ignore them)");
    }
    if req.acme {
        return Some("automatic certificates (ssl = true)");
    }
    None
}

/// Whether `req` needs the health answer at all (a plain deploy works with any proxy).
pub fn needs_check(req: &DeployRequest) -> bool {
    req.acme || req.response_timeout_ms.is_some() || req.buffering.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> DeployRequest {
        serde_json::from_str(r#"{"target":"demo-web-abc:3000","hosts":["demo.test"]}"#)
            .expect("a minimal deploy request")
    }

    #[test]
    fn an_old_proxy_is_refused_for_acme_before_the_switch() {
        let old: HealthAnswer = serde_json::from_str(r#"{"ok":true}"#).unwrap();
        let now: HealthAnswer =
            serde_json::from_str(r#"{"ok":true,"service_limits":true}"#).unwrap();
        let mut acme = req();
        acme.acme = true;
        assert!(needs_check(&acme));
        assert_eq!(
            unsupported(&acme, &old),
            Some("automatic certificates (ssl = true)")
        );
        assert_eq!(unsupported(&acme, &now), None);
        let mut limits = req();
        limits.response_timeout_ms = Some(5000);
        assert!(unsupported(&limits, &old)
            .unwrap()
            .contains("response_timeout"));
        assert_eq!(unsupported(&limits, &now), None);
        assert!(!needs_check(&req()));
        assert_eq!(unsupported(&req(), &old), None);
    }
}
