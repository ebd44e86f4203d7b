//! The hosts a command runs on: the config loaded for the destination, filtered by -h/-r/-p,
//! with the SSH options to reach them.

use super::Global;
use crate::host::ssh::{SshOptions, SshTarget};

/// The selected hosts (each once, in config order) and how to connect to them.
#[derive(Debug, Clone)]
pub struct Hosts {
    pub targets: Vec<SshTarget>,
    pub ssh: SshOptions,
}

/// Load the config and select hosts with the global filters.
pub fn load(global: &Global) -> anyhow::Result<Hosts> {
    let loaded = load_config(global)?;
    let mut targets: Vec<SshTarget> = Vec::new();
    for (_, hosts) in crate::config::select::selection(&loaded, &global.selection())? {
        for h in hosts {
            let t = h.target();
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    Ok(Hosts {
        targets,
        ssh: crate::config::select::ssh_options(&loaded)?,
    })
}

/// Load and validate the config named by the global flags.
pub fn load_config(global: &Global) -> anyhow::Result<crate::config::Loaded> {
    crate::config::load(
        &global.config_file,
        global.destination.as_deref(),
        std::path::Path::new(".dhow"),
    )
}
