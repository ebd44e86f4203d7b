//! Cron roles (`[servers.<role>]` with `schedule`): the schedule is standard 5-field cron (the
//! syntax the host's scheduler reads, `dhow_proxy_api::cron`), a command is given, the role
//! is not proxied, and `keep_runs` only appears with a schedule. Also `replicas` (1-64, not on
//! a cron role), the other per-role count.

use super::super::locate::key;
use super::super::schema::RoleConfig;
use super::Errors;

/// At most this many runs are kept per role and host.
const MAX_KEEP: usize = 10_000;

/// At most this many containers of a role per host.
pub const MAX_REPLICAS: usize = 64;

pub(super) fn check(name: &str, role: &RoleConfig, e: &mut Errors) {
    let at = |k: &str| [key("servers"), key(name), key(k)];
    if let Some(n) = role.replicas {
        if n == 0 || n > MAX_REPLICAS {
            e.add(
                &at("replicas"),
                format!("replicas must be 1 to {MAX_REPLICAS}, not {n}"),
            );
        } else if n > 1 && role.schedule.is_some() {
            e.add(
                &at("replicas"),
                format!("cron role {name} runs one scheduler per host: replicas is for roles that serve or work"),
            );
        }
    }
    let Some(schedule) = &role.schedule else {
        if role.keep_runs.is_some() {
            e.add(
                &at("keep_runs"),
                format!("role {name} has keep_runs but no schedule: keep_runs is for cron roles"),
            );
        }
        return;
    };
    if let Err(msg) = dhow_proxy_api::cron::parse(schedule) {
        e.add(&at("schedule"), format!("bad schedule {msg}"));
    }
    if role.cmd.is_none() {
        e.add(
            &[key("servers"), key(name)],
            format!("cron role {name} has no cmd: add cmd = \"...\" (what runs on the schedule)"),
        );
    }
    if role.proxy == Some(true) {
        e.add(
            &at("proxy"),
            format!("cron role {name} cannot be proxied: a scheduled run serves no traffic"),
        );
    }
    if let Some(k) = role.keep_runs {
        if k == 0 || k > MAX_KEEP {
            e.add(
                &at("keep_runs"),
                format!("keep_runs must be 1 to {MAX_KEEP}, not {k}"),
            );
        }
    }
}
