//! How traffic reaches the app: a Service per proxied role (port 80 to `proxy.app_port`) and
//! one Ingress with the proxy's hosts and path prefix, each to the Service of the role that
//! serves it, with TLS (the certificate in a `kubernetes.io/tls` Secret: written from
//! `proxy.ssl_certificate` with `--with-secrets`, to be created otherwise, or by the cluster's
//! certificate issuer where dhow used ACME).

use super::names::Naming;
use super::Export;
use crate::deploy::settings::Settings;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The Service in front of a proxied role's pods.
pub fn service(k: &Naming, role: &str, app_port: u16) -> Service {
    let selector = k.selector(role);
    Service {
        metadata: ObjectMeta {
            name: Some(k.of(role)),
            labels: Some(selector.clone()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::Int(i32::from(app_port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Ingress of the proxied roles; none when no role is proxied.
pub fn ingress(
    k: &Naming,
    s: &Settings,
    with_secrets: bool,
    out: &mut Export,
) -> anyhow::Result<Option<Ingress>> {
    let proxied: Vec<&crate::deploy::settings::RoleSettings> =
        s.roles.iter().filter(|r| r.proxied).collect();
    let Some(first) = proxied.first().map(|r| r.name.as_str()) else {
        return Ok(None);
    };
    let p = &s.proxy;
    // Each proxied role's route (its own hosts or prefix, else [proxy]'s) as paths to its
    // Service, grouped by host (none: every host).
    let mut by_host: std::collections::BTreeMap<Option<String>, Vec<HTTPIngressPath>> =
        Default::default();
    let mut all_hosts: Vec<String> = Vec::new();
    for role in &proxied {
        let Some(route) = s.route(role) else { continue };
        let prefixes: Vec<String> = match (&route.path_prefix, &route.traffic.path_prefixes[..]) {
            (Some(one), _) => vec![one.clone()],
            (None, []) => vec!["/".into()],
            (None, several) => several.to_vec(),
        };
        let paths = prefixes.into_iter().map(|path| HTTPIngressPath {
            path: Some(path),
            path_type: "Prefix".into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: k.of(&role.name),
                    port: Some(ServiceBackendPort {
                        number: Some(80),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            },
        });
        let paths: Vec<HTTPIngressPath> = paths.collect();
        let hosts: Vec<Option<String>> = if route.hosts.is_empty() {
            vec![None]
        } else {
            route.hosts.iter().cloned().map(Some).collect()
        };
        for h in hosts {
            if let Some(name) = &h {
                if !all_hosts.contains(name) {
                    all_hosts.push(name.clone());
                }
            }
            by_host.entry(h).or_default().extend(paths.iter().cloned());
        }
    }
    let rules: Vec<IngressRule> = by_host
        .into_iter()
        .map(|(host, paths)| IngressRule {
            host,
            http: Some(HTTPIngressRuleValue { paths }),
        })
        .collect();
    let tls = if p.tls.is_some() || p.acme {
        let secret = k.of("tls");
        super::secrets::tls(k, s, &secret, with_secrets, out)?;
        Some(vec![IngressTLS {
            hosts: Some(all_hosts),
            secret_name: Some(secret),
        }])
    } else {
        None
    };
    Ok(Some(Ingress {
        metadata: ObjectMeta {
            name: Some(k.prefix.clone()),
            labels: Some(k.selector(first)),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            rules: Some(rules),
            tls,
            ..Default::default()
        }),
        ..Default::default()
    }))
}
