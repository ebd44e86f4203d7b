//! The app itself: `service` and `image` are required and well-formed; `require_destination`
//! holds.

use super::super::locate::key;
use super::super::schema::Config;
use super::{name_ok, Errors};

/// `service` and `image`.
pub(super) fn check(c: &Config, e: &mut Errors) {
    match &c.service {
        None => e.add(
            &[],
            "missing required key `service` (the app's name, e.g. service = \"myapp\")",
        ),
        Some(s) if !name_ok(s) => e.add(
            &[key("service")],
            format!("bad service name \"{s}\": use letters, digits, - and _"),
        ),
        Some(s) if super::dash_at_edge(s) => e.add(
            &[key("service")],
            super::dash_at_edge_message("service name", s),
        ),
        _ => {}
    }
    match &c.image {
        None => e.add(
            &[],
            "missing required key `image` (e.g. image = \"myorg/myapp\")",
        ),
        Some(s) if s.trim().is_empty() || s.contains(char::is_whitespace) => {
            e.add(&[key("image")], format!("bad image name \"{s}\""))
        }
        _ => {}
    }
}

/// `require_destination = true` needs `-d`.
pub(super) fn check_destination(c: &Config, destination: Option<&str>, e: &mut Errors) {
    if c.require_destination == Some(true) && destination.is_none() {
        e.add(
            &[key("require_destination")],
            "this config requires a destination: pass -d DESTINATION",
        );
    }
}
