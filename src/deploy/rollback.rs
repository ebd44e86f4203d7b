//! Which version `dhow rollback` goes back to: a pure choice over what the hosts keep (the
//! inventory of containers per host and role), so it is tested without any host.

use crate::docker::engine::AppContainer;
use crate::error::{fail, Kind};
use std::collections::BTreeSet;

/// The containers of each (host, role), newest first.
pub type Inventory = [(String, String, Vec<AppContainer>)];

/// `wanted` if every host keeps it for every role; else the newest version before the running
/// one that every host keeps (newest first as on the primary host's first role).
pub fn choose(inv: &Inventory, primary_host: &str, wanted: Option<&str>) -> anyhow::Result<String> {
    let mut common: Option<BTreeSet<String>> = None;
    let mut running = BTreeSet::new();
    for (_, _, list) in inv {
        let versions: BTreeSet<String> = list.iter().map(|c| c.version.clone()).collect();
        running.extend(list.iter().filter(|c| c.running).map(|c| c.version.clone()));
        common = Some(match common {
            None => versions,
            Some(prev) => prev.intersection(&versions).cloned().collect(),
        });
    }
    let common = common.unwrap_or_default();
    let available = || {
        if common.is_empty() {
            "none".to_string()
        } else {
            common.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    if let Some(v) = wanted {
        if common.contains(v) {
            return Ok(v.to_string());
        }
        return Err(fail(
            Kind::Usage,
            format!(
                "version {v} is not retained on every selected host; versions available everywhere: {}",
                available()
            ),
        ));
    }
    let order: Vec<&AppContainer> = inv
        .iter()
        .find(|(h, _, _)| *h == primary_host)
        .or(inv.first())
        .map(|(_, _, l)| l.iter().collect())
        .unwrap_or_default();
    order
        .into_iter()
        .find(|c| !c.running && !running.contains(&c.version) && common.contains(&c.version))
        .map(|c| c.version.clone())
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                format!(
                    "no previous version to roll back to; versions available everywhere: {}",
                    available()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Containers newest first: `(version, running)`.
    fn kept(host: &str, list: &[(&str, bool)]) -> (String, String, Vec<AppContainer>) {
        let containers = list
            .iter()
            .enumerate()
            .map(|(i, (v, running))| AppContainer {
                name: format!("demo-web-{v}"),
                version: v.to_string(),
                role: "web".into(),
                running: *running,
                state: if *running { "running" } else { "exited" }.into(),
                created: 100 - i as i64,
                image: format!("dhow/demo:{v}"),
            })
            .collect();
        (host.into(), "web".into(), containers)
    }

    #[test]
    fn goes_back_to_the_newest_version_before_the_running_one() {
        let inv = [
            kept("h1", &[("v3", true), ("v2", false), ("v1", false)]),
            kept("h2", &[("v3", true), ("v2", false), ("v1", false)]),
        ];
        assert_eq!(choose(&inv, "h1", None).unwrap(), "v2");
    }

    #[test]
    fn skips_versions_some_host_does_not_keep() {
        let inv = [
            kept("h1", &[("v3", true), ("v2", false), ("v1", false)]),
            kept("h2", &[("v3", true), ("v1", false)]),
        ];
        assert_eq!(choose(&inv, "h1", None).unwrap(), "v1");
    }

    #[test]
    fn never_picks_a_version_running_somewhere() {
        // A half-finished deploy: h2 already runs v3, h1 still v2.
        let inv = [
            kept("h1", &[("v3", false), ("v2", true), ("v1", false)]),
            kept("h2", &[("v3", true), ("v2", false), ("v1", false)]),
        ];
        assert_eq!(choose(&inv, "h1", None).unwrap(), "v1");
    }

    #[test]
    fn follows_the_primary_hosts_order() {
        let inv = [
            kept("h2", &[("v3", true), ("v1", false), ("v2", false)]),
            kept("h1", &[("v3", true), ("v2", false), ("v1", false)]),
        ];
        assert_eq!(choose(&inv, "h1", None).unwrap(), "v2");
        assert_eq!(choose(&inv, "elsewhere", None).unwrap(), "v1");
    }

    #[test]
    fn a_wanted_version_must_be_kept_everywhere() {
        let inv = [
            kept("h1", &[("v3", true), ("v2", false), ("v1", false)]),
            kept("h2", &[("v3", true), ("v1", false)]),
        ];
        assert_eq!(choose(&inv, "h1", Some("v1")).unwrap(), "v1");
        let err = choose(&inv, "h1", Some("v2")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("version v2 is not retained"), "{msg}");
        assert!(msg.contains("available everywhere: v1, v3"), "{msg}");
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
    }

    #[test]
    fn nothing_to_go_back_to_is_a_usage_error() {
        let inv = [kept("h1", &[("v3", true)])];
        let err = choose(&inv, "h1", None).unwrap_err();
        assert!(format!("{err:#}").contains("no previous version to roll back to"));
        let err = choose(&[], "h1", None).unwrap_err();
        assert!(format!("{err:#}").contains("available everywhere: none"));
    }
}
