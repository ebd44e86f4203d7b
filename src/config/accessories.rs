//! What the config says about `[accessories.*]` beyond the schema: the hosts each runs on
//! (`host`, `hosts`, or the hosts of roles), their SSH targets, and the file mode syntax. The
//! accessory module resolves the rest (env, files, ports) into its settings.

use super::schema::AccessoryConfig;
use super::select::roles;
use super::Loaded;
use std::collections::BTreeMap;

/// `host`, then `hosts`, then the hosts of `roles`, each once, in that order.
pub fn hosts_of(l: &Loaded, a: &AccessoryConfig) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let mut add = |h: String| {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    };
    for h in a.host.iter().chain(a.hosts.iter().flatten()) {
        add(h.to_string());
    }
    let all = roles(l);
    for r in a.roles.iter().flatten() {
        for (_, hs) in all.iter().filter(|(name, _)| name == r) {
            for h in hs {
                add(h.to_string());
            }
        }
    }
    hosts
}

/// Every accessory host with its SSH target (for connecting).
pub fn targets(l: &Loaded) -> BTreeMap<String, crate::host::ssh::SshTarget> {
    let mut t = BTreeMap::new();
    for a in l.config.accessories.iter().flat_map(|m| m.values()) {
        for h in a.host.iter().chain(a.hosts.iter().flatten()) {
            t.insert(h.to_string(), h.target());
        }
    }
    t
}

/// `"0640"` or `"640"` (octal).
pub fn parse_mode(s: &str) -> Option<u32> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8).ok()?;
    (m <= 0o7777).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("999"), None);
    }
}
