//! Where and how to connect to one host, from three sources in this order of precedence
//! (as Kamal: explicit values win over the ssh config):
//!
//! 1. the server entry itself (`user@host:port` in `servers`),
//! 2. values set in the deploy config's `[ssh]` section (`user`, `port`, `keys`, `proxy`,
//!    `keepalive`, `connect_timeout`),
//! 3. the user's ssh config for that host (see `ssh_config.rs`),
//! 4. dhow's defaults (root, 22, ~/.ssh/id_ed25519|id_ecdsa|id_rsa, 15 s keepalive).
//!
//! The host is looked up in the ssh config by the name written in the deploy config (an
//! alias); HostName replaces the address connected to and the name known_hosts is checked
//! under, as in OpenSSH.

use super::{SshOptions, SshTarget};

/// One hop or the final host: the address, port and user to use, and the options for it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub opts: SshOptions,
    /// Jump hosts to go through, first hop first.
    pub jumps: Vec<SshTarget>,
}

/// Resolve `target` under `opts` (and `opts.ssh_config`).
pub fn resolve(target: &SshTarget, opts: &SshOptions) -> anyhow::Result<Resolved> {
    let mut o = opts.clone();
    let jumps_explicit = opts.proxy.iter().cloned().collect::<Vec<_>>();
    let Some(file) = &opts.ssh_config else {
        return Ok(Resolved {
            host: target.host.clone(),
            port: target.port.unwrap_or(opts.port),
            user: target.user.clone().unwrap_or_else(|| opts.user.clone()),
            opts: o,
            jumps: jumps_explicit,
        });
    };
    let explicit_user = target
        .user
        .clone()
        .or_else(|| opts.explicit.user.then(|| opts.user.clone()));
    let c = file.lookup(&target.host, explicit_user.as_deref())?;
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    let user = explicit_user
        .or(c.user.clone())
        .unwrap_or_else(|| opts.user.clone());
    let port = target
        .port
        .or(opts.explicit.port.then_some(opts.port))
        .or(c.port)
        .unwrap_or(opts.port);
    if !opts.explicit.keys && !c.identity_files.is_empty() {
        o.keys = c.identity_files.clone();
    }
    if let Some(only) = c.identities_only {
        o.identities_only = only;
    }
    if !opts.explicit.keepalive {
        if let Some(s) = c.server_alive_interval {
            o.keepalive_interval = std::time::Duration::from_secs(s);
        }
    }
    if !opts.explicit.connect_timeout {
        if let Some(s) = c.connect_timeout.filter(|s| *s > 0) {
            o.connect_timeout = std::time::Duration::from_secs(s);
        }
    }
    let jumps = if opts.proxy.is_some() {
        jumps_explicit
    } else {
        c.proxy_jump.clone().unwrap_or_default()
    };
    Ok(Resolved {
        host: c.hostname.clone().unwrap_or_else(|| target.host.clone()),
        port,
        user,
        opts: o,
        jumps,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ssh_config::SshConfigFile;
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    const CONFIG: &str = "\
Host web1
  HostName 10.0.0.5
  User deploy
  Port 2200
  IdentityFile /keys/web1
  ProxyJump bastion
Host bastion
  HostName bastion.example.com
  User jump
";

    fn opts(config: &str) -> SshOptions {
        SshOptions {
            ssh_config: Some(Arc::new(SshConfigFile::parse(config, "cfg").unwrap())),
            ..SshOptions::default()
        }
    }

    #[test]
    fn the_ssh_config_fills_what_the_deploy_config_leaves_unset() {
        let r = resolve(&SshTarget::host("web1"), &opts(CONFIG)).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.user.as_str()),
            ("10.0.0.5", 2200, "deploy")
        );
        assert_eq!(r.opts.keys, vec![PathBuf::from("/keys/web1")]);
        assert_eq!(r.jumps, vec![SshTarget::host("bastion")]);
        // A host the config does not name: dhow's defaults.
        let r = resolve(&SshTarget::host("other"), &opts(CONFIG)).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.user.as_str()),
            ("other", 22, "root")
        );
        assert!(r.jumps.is_empty() && r.opts.keys.is_empty());
    }

    #[test]
    fn explicit_values_win_over_the_ssh_config() {
        let mut o = opts(CONFIG);
        o.user = "admin".into();
        o.port = 22;
        o.keys = vec![PathBuf::from("/mine")];
        o.proxy = Some(SshTarget::host("gw"));
        o.explicit = super::super::Explicit {
            user: true,
            port: true,
            keys: true,
            ..Default::default()
        };
        let r = resolve(&SshTarget::host("web1"), &o).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.user.as_str()),
            ("10.0.0.5", 22, "admin")
        );
        assert_eq!(r.opts.keys, vec![PathBuf::from("/mine")]);
        assert_eq!(r.jumps, vec![SshTarget::host("gw")]);
        // The server entry wins over both.
        let t = SshTarget::parse("ops@web1:2022").unwrap();
        let r = resolve(&t, &o).unwrap();
        assert_eq!((r.port, r.user.as_str()), (2022, "ops"));
    }

    #[test]
    fn without_an_ssh_config_only_the_deploy_config_counts() {
        let o = SshOptions::default();
        let r = resolve(&SshTarget::host("web1"), &o).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.user.as_str()),
            ("web1", 22, "root")
        );
    }
}
