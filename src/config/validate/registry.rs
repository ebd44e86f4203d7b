//! `[registry]`: when set, it names a server and a user (the password is a secret, checked
//! with the other secrets), and `delivery` (the registry-free choice) is not set.

use super::super::locate::key;
use super::super::schema::Config;
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    let Some(r) = &c.registry else {
        return;
    };
    if c.delivery.is_some() {
        e.add(
            &[key("delivery")],
            "delivery applies only without [registry] (with one, hosts pull from it); remove \
             one of them",
        );
    }
    if r.server.as_deref().is_none_or(str::is_empty) {
        e.add(
            &[key("registry")],
            "registry.server is required when [registry] is set (e.g. \"ghcr.io\")",
        );
    }
    if r.username.as_deref().is_none_or(str::is_empty) {
        e.add(
            &[key("registry")],
            "registry.username is required when [registry] is set",
        );
    }
}
