//! Kubernetes names and labels for dhow's parts: `<service>[-<destination>]` prefixes every
//! object (a DNS-1123 label: lowercase, `_` written `-`), and the labels that select a role's
//! pods. A name that cannot be made valid stops the export with what to change.

use crate::error::{fail, Kind};
use std::collections::BTreeMap;

/// The names of one export.
pub struct Naming {
    pub service: String,
    pub destination: Option<String>,
    pub prefix: String,
}

impl Naming {
    pub fn new(service: &str, destination: Option<&str>) -> anyhow::Result<Naming> {
        let prefix = label(
            &[Some(service), destination]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("-"),
        );
        check(&prefix, "service (and destination)")?;
        Ok(Naming {
            service: service.to_string(),
            destination: destination.map(str::to_string),
            prefix,
        })
    }

    /// `<prefix>-<part>`, a valid object name.
    pub fn of(&self, part: &str) -> String {
        format!("{}-{}", self.prefix, label(part))
    }

    /// The labels that select one role's (or accessory's) pods.
    pub fn selector(&self, component: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), label(&self.service)),
            ("app.kubernetes.io/component".to_string(), label(component)),
        ]);
        if let Some(d) = &self.destination {
            m.insert("app.kubernetes.io/instance".into(), label(d));
        }
        m
    }
}

/// Lowercase, `_` as `-`.
pub fn label(s: &str) -> String {
    s.to_ascii_lowercase().replace('_', "-")
}

/// A DNS-1123 label: 1..=63 of `a-z0-9-`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn check(name: &str, what: &str) -> anyhow::Result<()> {
    if is_dns_label(name) {
        return Ok(());
    }
    Err(fail(
        Kind::Config,
        format!("kube export: `{name}` (from the {what}) is not a valid Kubernetes name: at most 63 of a-z, 0-9 and -, starting and ending with a letter or digit"),
    ))
}

/// A label value Kubernetes takes: at most 63 of `A-Za-z0-9-_.`, alphanumeric at both ends
/// (or empty).
pub fn is_label_value(v: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric();
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| ok(c) || "-_.".contains(c))
            && v.starts_with(ok)
            && v.ends_with(ok))
}

/// A label key: an optional DNS prefix and `/`, then a name like a label value (not empty).
pub fn is_label_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').map_or((None, k), |(p, n)| (Some(p), n));
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    prefix_ok && !name.is_empty() && is_label_value(name)
}
