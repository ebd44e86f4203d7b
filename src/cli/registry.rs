//! `dhow registry login|logout` (Kamal's `kamal registry ...`): log the Docker CLI in to (or
//! out of) `[registry]` here and on every selected host, with the credentials a deploy uses.
//! The password goes on `docker login --password-stdin`'s stdin (locally, and over the SSH
//! connection on the hosts): never on a command line, in a log or in an error. dhow's own
//! pulls do not need this (they pass the credentials with each pull); a login on the hosts is
//! for `docker pull` by hand or `dhow server exec`.

use super::context::Ctx;
use crate::error::{fail, Kind};
use crate::host::shell::quote;
use secrecy::{ExposeSecret, SecretString};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long the local `docker login` / `logout` may take (it asks the registry).
const LOCAL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RegistryCommand {
    /// Log in to [registry] with its username and password: the Docker CLI here (its
    /// config.json) and on every selected app and accessory host (the deploy user's
    /// ~/.docker/config.json there). dhow's deploys do not need it: hosts pull with the
    /// credentials dhow passes per pull; it is for `docker pull` on a host by hand.
    Login(Sides),
    /// Log the Docker CLI out of [registry] here and on the selected hosts (`docker logout`).
    Logout(Sides),
}

/// Where to log in or out.
#[derive(Debug, Clone, clap::Args)]
pub struct Sides {
    /// Not on this machine.
    #[arg(short = 'L', long)]
    pub skip_local: bool,
    /// Not on the hosts.
    #[arg(short = 'R', long)]
    pub skip_remote: bool,
}

pub async fn run(ctx: &Ctx, cmd: &RegistryCommand) -> anyhow::Result<()> {
    let s = ctx.settings()?;
    let Some(r) = &s.registry else {
        return Err(fail(
            Kind::Usage,
            "the config has no [registry]; see docs/config.md#registry",
        ));
    };
    let (sides, login) = match cmd {
        RegistryCommand::Login(s) => (s, true),
        RegistryCommand::Logout(s) => (s, false),
    };
    // The password as a deploy resolves it: registry.password, else the Docker CLI's own.
    let password: Option<SecretString> = if login {
        let l = crate::image::credentials::Login {
            username: r.username.clone(),
            password: r.password.clone(),
        };
        crate::image::credentials::resolve(&r.server, Some(&l))?
            .credentials
            .and_then(|c| c.password)
            .map(SecretString::from)
    } else {
        None
    };
    if login && password.is_none() {
        return Err(fail(
            Kind::Config,
            format!(
                "registry {}: no password (registry.password, or a login of the Docker CLI \
                 here) to log in with",
                r.server
            ),
        ));
    }
    if !sides.skip_local {
        let already = login && r.password.is_none();
        let line = if already {
            format!(
                "local: the Docker CLI is logged in to {} already (registry.password is not set)",
                r.server
            )
        } else {
            local(&r.server, &r.username, password.as_ref()).await?;
            format!(
                "local: logged {} {}",
                if login { "in to" } else { "out of" },
                r.server
            )
        };
        let record = serde_json::json!({ "host": "local", "server": r.server, "login": login });
        ctx.out.data("registry", &record, || ctx.out.info(line));
    }
    if sides.skip_remote {
        return Ok(());
    }
    let mut hosts = ctx.targets()?.host_names();
    for h in s.accessories.iter().flat_map(|a| a.hosts.iter()) {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    let conns = ctx.connect(&hosts).await?;
    let tasks = hosts.iter().map(|h| {
        let conn = conns.get(h);
        let (server, user, password) = (&r.server, &r.username, password.as_ref());
        async move {
            let conn = conn.ok_or_else(|| fail(Kind::Internal, format!("no connection to {h}")))?;
            on_host(conn, server, user, password).await
        }
    });
    let mut failed = Vec::new();
    for (h, result) in hosts.iter().zip(futures::future::join_all(tasks).await) {
        match result {
            Ok(()) => {
                let what = if login {
                    "logged in to"
                } else {
                    "logged out of"
                };
                let record = serde_json::json!({ "host": h, "server": r.server, "login": login });
                ctx.out.data("registry", &record, || {
                    ctx.out
                        .host_line(h, "stdout", &format!("{what} {}", r.server))
                });
            }
            Err(e) => failed.push(format!("{h}: {e:#}")),
        }
    }
    if !failed.is_empty() {
        return Err(fail(
            Kind::Remote,
            format!("failed on:\n  {}", failed.join("\n  ")),
        ));
    }
    Ok(())
}

/// `docker login SERVER -u USER --password-stdin` (or `docker logout SERVER`) here.
async fn local(server: &str, user: &str, password: Option<&SecretString>) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new("docker");
    match password {
        Some(_) => cmd.args(["login", server, "-u", user, "--password-stdin"]),
        None => cmd.args(["logout", server]),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            Kind::Usage,
            format!("running the docker CLI here: {e} (is docker installed? -L skips this)"),
        )
    })?;
    let mut stdin = child.stdin.take();
    let run = async {
        if let (Some(p), Some(pipe)) = (password, stdin.as_mut()) {
            pipe.write_all(p.expose_secret().as_bytes()).await?;
        }
        drop(stdin);
        child.wait_with_output().await
    };
    let out = tokio::time::timeout(LOCAL_TIMEOUT, run)
        .await
        .map_err(|_| {
            fail(
                Kind::Remote,
                format!("docker login {server}: no answer within 60s"),
            )
        })??;
    if !out.status.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "local docker {}: {}",
                if password.is_some() {
                    "login"
                } else {
                    "logout"
                },
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// The same on a host, over its SSH connection (the password on the command's stdin). A
/// registry on this machine's loopback is forwarded to the host first, as for a pull.
async fn on_host(
    conn: &crate::host::conn::HostConn,
    server: &str,
    user: &str,
    password: Option<&SecretString>,
) -> anyhow::Result<()> {
    let line = match password {
        Some(_) => {
            if let Some((port, local)) = crate::image::pull::loopback_address(server) {
                conn.shell.forward_remote_port(port, &local).await?;
            }
            format!(
                "docker login {} -u {} --password-stdin",
                quote(server),
                quote(user)
            )
        }
        None => format!("docker logout {}", quote(server)),
    };
    let stdin = password.map(|p| p.expose_secret().as_bytes().to_vec());
    let step = if password.is_some() {
        "docker login"
    } else {
        "docker logout"
    };
    let out = conn.shell.exec_step(step, &line, stdin).await?;
    if out.status != 0 {
        return Err(fail(Kind::Remote, format!("{step}: {}", out.stderr.trim())));
    }
    Ok(())
}
