//! `servers`: hosts or roles, every role named well and with hosts (cron roles' own keys:
//! cron_roles.rs); `primary_role` names one of them.

use super::super::locate::key;
use super::super::schema::{Config, Servers};
use super::{name_ok, Errors};

/// Check `servers` and `primary_role`; returns the role names (for the sections that refer
/// to roles).
pub(super) fn check(c: &Config, e: &mut Errors) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    match &c.servers {
        None => e.add(
            &[],
            "missing required key `servers` (e.g. servers = [\"192.0.2.10\"])",
        ),
        Some(Servers::Hosts(h)) if h.is_empty() => {
            e.add(&[key("servers")], "no hosts: list at least one host")
        }
        Some(Servers::Hosts(_)) => roles.push("web".into()),
        Some(Servers::Roles(r)) => {
            if r.is_empty() {
                e.add(
                    &[key("servers")],
                    "no roles: add at least one role with hosts",
                );
            }
            for (name, role) in r {
                if !name_ok(name) {
                    e.add(
                        &[key("servers"), key(name)],
                        format!("bad role name \"{name}\": use letters, digits, - and _"),
                    );
                }
                if super::dash_at_edge(name) {
                    e.add(
                        &[key("servers"), key(name)],
                        super::dash_at_edge_message("role name", name),
                    );
                }
                if role.hosts.is_empty() {
                    e.add(
                        &[key("servers"), key(name)],
                        format!("role {name} has no hosts: add hosts = [\"...\"]"),
                    );
                }
                super::cron_roles::check(name, role, e);
                roles.push(name.clone());
            }
        }
    }
    if let Some(p) = &c.primary_role {
        if !roles.is_empty() && !roles.contains(p) {
            e.add(
                &[key("primary_role")],
                format!(
                    "primary role \"{p}\" is not a role in servers (roles: {})",
                    roles.join(", ")
                ),
            );
        }
    }
    roles
}
