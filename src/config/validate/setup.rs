//! `[setup]`: `docker_script_url` only means something with `docker_install = "script"`; with
//! the default (`apt`) it would be accepted and ignored, so it is refused.

use super::super::locate::key;
use super::super::schema::{Config, DockerInstall};
use super::Errors;

pub(super) fn check(c: &Config, e: &mut Errors) {
    let Some(s) = &c.setup else {
        return;
    };
    if s.docker_script_url.is_some() && s.docker_install != Some(DockerInstall::Script) {
        e.add(
            &[key("setup"), key("docker_script_url")],
            "docker_script_url needs docker_install = \"script\" (with the default, \"apt\", \
             Docker comes from the distribution and the URL would be ignored)",
        );
    }
}
