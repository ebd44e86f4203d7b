//! The names dhow gives what it puts on hosts (pure: no I/O), so two apps never share one: a
//! role's containers and proxy service are `<service>-<role>[-<destination>]`, one container
//! of it is `<prefix>-<version>`, an app's lock and state directory are
//! `<service>[-<destination>]`.
//!
//! The parts are joined by a single `-`; a `-` inside a part is written `--` (names never begin
//! or end with `-`: config validation refuses that). So the joined name can be read back into
//! its parts and distinct parts always give distinct names: service `shop` with role
//! `web-admin` is `shop-web--admin`, service `shop-web` with role `admin` is `shop--web-admin`;
//! `demo` with `-d x` is `demo-x`, service `demo-x` is `demo--x`. Names whose parts hold no
//! `-` are exactly what dhow always called them; for the others [`legacy_prefix`] and
//! [`legacy_key`] give the name an older dhow used, so an upgrade adopts what it left (the
//! proxy route: deploy/routes.rs; the state directory: state_dir.rs); containers are found by
//! their labels, never by name. Accessory containers keep their plain names (see
//! [`accessory_name`]).

/// One part of a name: every `-` doubled.
fn part(s: &str) -> String {
    s.replace('-', "--")
}

fn join(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| part(p))
        .collect::<Vec<_>>()
        .join("-")
}

/// `<service>-<role>[-<destination>]`: names a role's containers and its proxy service.
pub fn role_prefix(service: &str, role: &str, destination: Option<&str>) -> String {
    join(&[Some(service), Some(role), destination])
}

/// `<service>-<role>[-<destination>]-<version>`.
pub fn container_name(prefix: &str, version: &str) -> String {
    format!("{prefix}-{}", part(version))
}

/// `<service>[-<destination>]`: names the deploy lock and the app's directory on hosts.
pub fn state_key(service: &str, destination: Option<&str>) -> String {
    join(&[Some(service), destination])
}

/// `<service>-<accessory>[-<destination>]`, joined with plain `-` as always: an accessory's
/// container name is the host name the app's config uses to reach it (`DB_HOST=demo-db`), so
/// it does not change. Two apps whose accessories would share it are told apart by the
/// container's labels (accessory/ops.rs refuses to touch one that is not theirs).
pub fn accessory_name(service: &str, accessory: &str, destination: Option<&str>) -> String {
    [Some(service), Some(accessory), destination]
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join("-")
}

/// The parts of a name made by the functions above (`None` for a name they cannot make).
pub fn parts(name: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '-' {
            out.last_mut()?.push(c);
            continue;
        }
        let mut run = 1;
        while chars.peek() == Some(&'-') {
            chars.next();
            run += 1;
        }
        let last = out.last_mut()?;
        match run {
            1 => out.push(String::new()),
            n if n % 2 == 0 => last.push_str(&"-".repeat(n / 2)),
            _ => return None,
        }
    }
    out.iter().all(|p| !p.is_empty()).then_some(out)
}

/// What an older dhow called the role prefix (or accessory) named `name`: its parts joined
/// by plain `-`. The same as `name` when no part holds a `-`.
pub fn legacy_prefix(name: &str) -> String {
    parts(name).map_or_else(|| name.to_string(), |p| p.join("-"))
}

/// What an older dhow called the state key `key` (same rule as [`legacy_prefix`]).
pub fn legacy_key(key: &str) -> String {
    legacy_prefix(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_dashes_stay_what_they_were() {
        assert_eq!(
            role_prefix("demo", "web", Some("staging")),
            "demo-web-staging"
        );
        assert_eq!(
            container_name(&role_prefix("demo", "web", None), "v1"),
            "demo-web-v1"
        );
        assert_eq!(state_key("demo", Some("staging")), "demo-staging");
        assert_eq!(state_key("demo", None), "demo");
        assert_eq!(accessory_name("demo", "db", None), "demo-db");
        assert_eq!(legacy_prefix("demo-web-staging"), "demo-web-staging");
    }

    #[test]
    fn colliding_names_of_old_are_distinct() {
        let a = role_prefix("shop", "web-admin", None);
        let b = role_prefix("shop-web", "admin", None);
        assert_ne!(a, b);
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("shop-web--admin", "shop--web-admin")
        );
        assert_ne!(state_key("demo", Some("x")), state_key("demo-x", None));
        assert_ne!(
            role_prefix("demo", "web", Some("x")),
            role_prefix("demo", "web-x", None)
        );
        assert_ne!(
            container_name(&role_prefix("shop", "web", None), "admin-1"),
            container_name(&role_prefix("shop-web", "admin", None), "1")
        );
        assert_eq!(accessory_name("my-app", "db", Some("x")), "my-app-db-x");
        // Upgrades: the old names are known, to adopt what an older dhow left.
        assert_eq!(legacy_prefix(&a), "shop-web-admin");
        assert_eq!(legacy_key(&state_key("demo-x", None)), "demo-x");
    }

    /// Every triple over a small alphabet (with dashes inside parts) gets its own name, and
    /// the name reads back into its parts.
    #[test]
    fn names_are_injective_and_read_back() {
        let words = ["a", "b", "a-b", "b-a", "a--b", "ab", "a-b-a"];
        let mut seen = std::collections::HashMap::new();
        for s in words {
            for r in words {
                for d in std::iter::once(None).chain(words.iter().map(|w| Some(*w))) {
                    for v in ["1", "1-a", "a-1"] {
                        let name = container_name(&role_prefix(s, r, d), v);
                        let triple = (s, r, d, v);
                        if let Some(other) = seen.insert(name.clone(), triple) {
                            panic!("{name}: {other:?} and {triple:?}");
                        }
                    }
                    let mut want = vec![s.to_string(), r.to_string()];
                    want.extend(d.map(str::to_string));
                    assert_eq!(parts(&role_prefix(s, r, d)), Some(want));
                }
            }
        }
        assert_eq!(parts("a---b"), None);
        assert_eq!(parts("-a"), None);
    }
}
