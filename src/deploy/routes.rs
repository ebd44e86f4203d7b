//! Which proxy service a role is on a host. Its name is the role prefix (deploy/container.rs);
//! an older dhow named roles with a `-` in a part differently, and the proxy on an upgraded
//! host still routes that old name (another name for the same hosts would be refused as a
//! conflict). So the old name is used while the proxy routes it to a container of this very
//! role (its labels say so); otherwise, and whenever the proxy cannot be asked, the new one.

use super::container::{legacy_prefix, parts};
use crate::docker::containers;
use crate::docker::labels::{LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE};
use crate::host::conn::HostConn;
use crate::proxy::on_host as px;
use hyper::Method;

/// The proxy service name for the role `prefix` on this host.
pub async fn name_on(host: &HostConn, prefix: &str) -> String {
    let legacy = legacy_prefix(prefix);
    if legacy == prefix {
        return prefix.to_string();
    }
    let Ok(list) = px::control(host, Method::GET, "/v1/services", None).await else {
        return prefix.to_string();
    };
    let services = list["services"].as_array().cloned().unwrap_or_default();
    let named = |n: &str| services.iter().find(|s| s["name"].as_str() == Some(n));
    if named(prefix).is_some() {
        return prefix.to_string();
    }
    let Some(old) = named(&legacy) else {
        return prefix.to_string();
    };
    let target = old["target"].as_str().unwrap_or_default();
    let container = target.rsplit_once(':').map_or(target, |(c, _)| c);
    let labels = match containers::inspect(&host.docker, container).await {
        Ok(Some(info)) => info.config.and_then(|c| c.labels).unwrap_or_default(),
        _ => return prefix.to_string(),
    };
    if is_role(&labels, prefix) {
        legacy
    } else {
        prefix.to_string()
    }
}

/// The container the proxy routes the role `prefix` to on this host (None when the proxy
/// has no such route or cannot be asked).
pub async fn routed_container(host: &HostConn, prefix: &str) -> Option<String> {
    let name = name_on(host, prefix).await;
    let list = px::control(host, Method::GET, "/v1/services", None)
        .await
        .ok()?;
    let service = list["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"].as_str() == Some(name.as_str()))?
        .clone();
    let target = service["target"].as_str()?;
    Some(
        target
            .rsplit_once(':')
            .map_or(target, |(c, _)| c)
            .to_string(),
    )
}

/// Do these container labels say it is a container of the role `prefix`?
pub fn is_role(labels: &std::collections::HashMap<String, String>, prefix: &str) -> bool {
    let Some(p) = parts(prefix) else {
        return false;
    };
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or_default();
    get(LABEL_SERVICE) == p[0]
        && p.get(1).is_some_and(|r| get(LABEL_ROLE) == r)
        && get(LABEL_DESTINATION) == p.get(2).map(String::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::container::role_prefix;

    #[test]
    fn labels_tell_which_role_an_old_route_serves() {
        let labels = |s: &str, r: &str, d: &str| {
            [(LABEL_SERVICE, s), (LABEL_ROLE, r), (LABEL_DESTINATION, d)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let shop = role_prefix("shop", "web-admin", None);
        assert!(is_role(&labels("shop", "web-admin", ""), &shop));
        // The old name shop-web-admin may be shop-web's admin role: not ours.
        assert!(!is_role(&labels("shop-web", "admin", ""), &shop));
        let staged = role_prefix("my-app", "web", Some("eu-1"));
        assert!(is_role(&labels("my-app", "web", "eu-1"), &staged));
        assert!(!is_role(&labels("my-app", "web", ""), &staged));
    }
}
