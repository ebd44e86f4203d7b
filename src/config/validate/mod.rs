//! Checks on the merged config that the schema alone cannot make, one file per section (as
//! Kamal splits its validators): `app` (service, image, destination), `servers` (roles and the
//! primary role), `tags` (host tags and `env.tags`), `registry`, `proxy`, `accessories`, `setup`, and `secrets` (every reference, from
//! whichever section, defined in `.dhow/secrets*`). Every error names the file, line and column
//! of the offending key (in the destination file when it comes from there); all errors are
//! reported together, in section order.

mod accessories;
mod app;
mod canary;
mod cron_roles;
mod proxy;
mod proxy_boot;
mod proxy_traffic;
mod registry;
mod role_routes;
mod secrets;
mod servers;
mod setup;
mod tags;
#[cfg(test)]
mod tests;

use super::locate::{Located, Seg};
use super::schema::Config;
use crate::error::{fail, Kind};
use std::collections::BTreeSet;

/// The secret a `secret` entry refers to: `NAME` or `NAME:SECRET_NAME`.
pub fn secret_ref(entry: &str) -> (&str, &str) {
    entry.split_once(':').unwrap_or((entry, entry))
}

/// The names of the secrets the config references (whether defined or not), in config order.
pub fn referenced_secrets(c: &Config) -> Vec<String> {
    secrets::references(c).into_iter().map(|(_, n)| n).collect()
}

/// Validate; returns the names of the secrets the config references.
pub fn validate(
    c: &Config,
    destination: Option<&str>,
    files: &[Located],
    defined: &crate::config::secrets::Defs,
) -> anyhow::Result<BTreeSet<String>> {
    let mut e = Errors {
        files,
        list: Vec::new(),
    };
    app::check(c, &mut e);
    let roles = servers::check(c, &mut e);
    role_routes::check(c, &mut e);
    let tags = tags::check(c, &mut e);
    app::check_destination(c, destination, &mut e);
    registry::check(c, &mut e);
    proxy::check(c, &mut e);
    accessories::check(c, &roles, &tags, &mut e);
    setup::check(c, &mut e);
    canary::check(c, &mut e);
    let needed = secrets::check(c, destination, defined, &mut e);
    if e.list.is_empty() {
        Ok(needed)
    } else {
        Err(fail(Kind::Config, e.list.join("\n")))
    }
}

/// The errors found so far, each as `file:line:column: key.path: problem`.
struct Errors<'a> {
    files: &'a [Located],
    list: Vec<String>,
}

impl Errors<'_> {
    /// Record a problem at a key path (the empty path: the file as a whole).
    fn add(&mut self, path: &[Seg], msg: impl Into<String>) {
        let p = super::locate::render(path);
        let msg = msg.into();
        self.list.push(format!(
            "{}: {}{msg}",
            at(self.files, path),
            if p.is_empty() {
                String::new()
            } else {
                format!("{p}: ")
            }
        ));
    }
}

/// Where a key path is: the last file that has it, else the base file.
fn at(files: &[Located], path: &[Seg]) -> String {
    files
        .iter()
        .rev()
        .find_map(|f| f.locate(path))
        .unwrap_or_else(|| {
            files
                .first()
                .map(|f| format!("{}:1:1", f.file))
                .unwrap_or_default()
        })
}

/// A name that begins or ends with `-`: refused for service, role, accessory and destination
/// names, so that the names dhow makes from them read back into their parts (deploy/container.rs).
pub fn dash_at_edge(s: &str) -> bool {
    s.starts_with('-') || s.ends_with('-')
}

/// The message for a name with a `-` at its start or end.
pub fn dash_at_edge_message(what: &str, s: &str) -> String {
    format!("bad {what} \"{s}\": a name cannot begin or end with - (dhow joins names with -)")
}

/// Letters, digits, `-` and `_`, not empty: service, role and accessory names.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}
