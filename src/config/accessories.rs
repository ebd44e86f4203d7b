//! What the config says about `[accessories.*]` beyond the schema: the hosts each runs on
//! (`host`, `hosts`, the hosts of roles or of tags), their SSH targets, and the file mode syntax. The
//! accessory module resolves the rest (env, files, ports) into its settings.

use super::schema::AccessoryConfig;
use super::select::roles;
use super::Loaded;
use std::collections::BTreeMap;

/// `host`, then `hosts`, then the hosts of `roles`, then the hosts carrying one of `tags`, each
/// once, in that order.
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
    let wanted = a.tags.iter().flatten();
    let wanted: Vec<&String> = wanted.collect();
    for (_, hs) in super::select::tagged_roles(&l.config) {
        for h in hs
            .iter()
            .filter(|h| h.tags.iter().any(|t| wanted.contains(&t)))
        {
            add(h.host.to_string());
        }
    }
    hosts
}

/// Every accessory host with its SSH target (for connecting): those of `host` and `hosts`, and
/// every host of `servers` (where `roles` and `tags` find theirs).
pub fn targets(l: &Loaded) -> BTreeMap<String, crate::host::ssh::SshTarget> {
    let mut t = BTreeMap::new();
    for a in l.config.accessories.iter().flat_map(|m| m.values()) {
        for h in a.host.iter().chain(a.hosts.iter().flatten()) {
            t.insert(h.to_string(), h.target());
        }
    }
    for (_, hosts) in roles(l) {
        for h in hosts {
            t.entry(h.to_string()).or_insert_with(|| h.target());
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
    fn tags_pick_the_hosts_carrying_them_with_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deploy.toml");
        std::fs::write(
            &file,
            "service = \"app\"\nimage = \"org/app\"\n\
             [servers.web]\nhosts = [\"w1\", { host = \"root@w2:2222\", tags = [\"db\"] }]\n\
             [servers.jobs]\nhosts = [{ host = \"j1\", tags = [\"cache\", \"db\"] }]\n\
             [accessories.pg]\nimage = \"postgres\"\nhost = \"d1\"\ntags = [\"db\"]\n",
        )
        .unwrap();
        let l = crate::config::load(&file, None, &dir.path().join(".dhow")).unwrap();
        let pg = &l.config.accessories.as_ref().unwrap()["pg"];
        assert_eq!(hosts_of(&l, pg), ["d1", "j1", "root@w2:2222"]);
        let t = targets(&l);
        assert_eq!(t["root@w2:2222"].port, Some(2222));
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("999"), None);
    }
}
