//! The command line: global flags (as Kamal users know them) and one submodule per command.
//! Commands are thin: they parse, load what they need and call into the library modules.

mod accessory;
mod accessory_details;
mod aliases;
mod app;
mod audit;
mod build;
mod completions;
mod config;
mod context;
mod cron;
mod deploy;
mod details;
mod docs;
mod hosts;
mod init;
mod kube;
mod lock;
mod man;
mod proxy;
mod proxy_binary;
mod proxy_details;
mod prune;
mod records;
mod registry;
mod rollout;
mod secrets;
mod server;
mod setup;
mod version;
mod versions;

use crate::output::Output;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags every command accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Path to the deploy config.
    #[arg(
        short = 'c',
        long = "config-file",
        global = true,
        default_value = "config/deploy.toml"
    )]
    pub config_file: PathBuf,

    /// Destination: merges config/deploy.<DESTINATION>.toml over the base config.
    #[arg(short = 'd', long, global = true)]
    pub destination: Option<String>,

    /// Run only on these hosts (comma-separated, `*` wildcards).
    #[arg(short = 'h', long, global = true, value_delimiter = ',')]
    pub hosts: Vec<String>,

    /// Run only for these roles (comma-separated, `*` wildcards).
    #[arg(short = 'r', long, global = true, value_delimiter = ',')]
    pub roles: Vec<String>,

    /// Run only on the primary host.
    #[arg(short = 'p', long, global = true)]
    pub primary: bool,

    /// The app version to use (default: the git SHA of HEAD).
    #[arg(long = "version", global = true, value_name = "VERSION")]
    pub version: Option<String>,

    /// Show more detail; -v also logs each host's steps with timings, -vv every remote
    /// command and Docker API call (see also RUST_LOG).
    #[arg(short = 'v', long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// The format of the -v diagnostic log on stderr: text or json (one object per line).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: crate::logging::LogFormat,

    /// Show only errors and the final summary.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Do not run hooks.
    #[arg(short = 'H', long = "skip-hooks", global = true)]
    pub skip_hooks: bool,

    /// One JSON object per line instead of human output; a command that prints data gives one
    /// typed object per host (the README lists their fields).
    #[arg(long, global = true)]
    pub json: bool,

    /// Print help.
    #[arg(long, global = true, action = ArgAction::Help)]
    help: Option<bool>,
}

impl Global {
    /// The `-h`/`-r`/`-p` filters as the config layer takes them.
    pub fn selection(&self) -> crate::config::Selection {
        crate::config::Selection {
            hosts: self.hosts.clone(),
            roles: self.roles.clone(),
            primary: self.primary,
        }
    }
}

/// dhow deploys Docker apps to plain Linux servers with zero downtime.
#[derive(Debug, Parser)]
#[command(
    name = "dhow",
    version = env!("CARGO_PKG_VERSION"),
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    /// Print dhow's version (`--version` is the app version, as in Kamal).
    #[arg(short = 'V', action = ArgAction::Version)]
    dhow_version: Option<bool>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, deliver and deploy the app to every host with zero downtime.
    ///
    /// The image is built from the committed tree of HEAD (builder.context_source =
    /// "commit", the default): uncommitted changes are not in it, and dhow names them. Set
    /// builder.context_source = "working-tree" to build from the files on disk. Outside a
    /// git repository the working tree is used. `.dhow/` (secrets) is never sent to a build.
    Deploy(deploy::DeployArgs),
    /// Prepare fresh servers (Docker, the docker group; optional hardening and firewall), boot
    /// the accessories, then deploy.
    Setup(deploy::DeployArgs),
    /// Deploy without setting up the network or the proxy (they must exist).
    Redeploy(deploy::DeployArgs),
    /// Switch back to a retained version (default: the previous one).
    Rollback(deploy::RollbackArgs),
    /// A canary rollout (`deploy --canary PERCENT`): status (each version's share, requests,
    /// 5xx rate, p99), set PERCENT, finish (all traffic to it, the old version stops), abort.
    Rollout {
        #[command(subcommand)]
        cmd: rollout::RolloutCommand,
    },
    /// The retained versions on each host, the running one marked.
    Versions,
    /// Look at or operate the app's containers.
    App {
        #[command(subcommand)]
        cmd: app::AppCommand,
    },
    /// The app image without a deploy: push (build and push), pull (hosts pull it), deliver
    /// (build, then onto every host as a deploy would), details (the builder).
    Build {
        #[command(subcommand)]
        cmd: build::BuildCommand,
    },
    /// The deploy lock: status, acquire, release.
    Lock {
        #[command(subcommand)]
        cmd: lock::LockCommand,
    },
    /// The audit log of each host.
    Audit(audit::AuditArgs),
    /// Cron roles (a role with `schedule`): list (schedule, next run, last run per host), run
    /// NAME (now, once, its exit status), logs NAME (the kept output of past runs).
    Cron {
        #[command(subcommand)]
        cmd: cron::CronCommand,
    },
    /// Remove old containers beyond retain_containers and images no container uses (Kamal's
    /// prune): all (the default), images, containers [--retain N].
    Prune {
        #[command(subcommand)]
        cmd: Option<prune::PruneCommand>,
    },
    /// Print the merged config (base + destination), secrets redacted; `config schema`
    /// prints the config's JSON Schema (for editors: see the `#:schema` line `dhow init` writes).
    Config {
        #[command(subcommand)]
        cmd: Option<config::ConfigCommand>,
    },
    /// Kubernetes manifests for the config (`kube export`): the way out when the app
    /// outgrows a handful of servers. Typed objects, checked against Kubernetes' schemas.
    Kube {
        #[command(subcommand)]
        cmd: kube::KubeCommand,
    },
    /// Secrets from password managers for `.dhow/secrets` (fetch, extract, as `kamal
    /// secrets`), and `print`, the one command that shows secret values.
    Secrets {
        #[command(subcommand)]
        cmd: secrets::SecretsCommand,
    },
    /// Write a starting config/deploy.toml, sample hooks and .dhow/secrets (never overwrites).
    ///
    /// With --from-kamal, convert a Kamal project instead: config/deploy.yml (and each
    /// config/deploy.<destination>.yml) becomes config/deploy.toml (deploy.<destination>.toml),
    /// .kamal/secrets* is copied to .dhow/secrets*, .kamal/hooks/* to hooks/; every Kamal key
    /// dhow does not support is warned about, and the result is checked like `dhow config`.
    Init(init::InitArgs),
    /// Print dhow's version.
    Version,
    /// Log the Docker CLI in to or out of [registry], here and on the hosts.
    Registry {
        #[command(subcommand)]
        cmd: registry::RegistryCommand,
    },
    /// Run commands on the servers.
    Server {
        #[command(subcommand)]
        cmd: server::ServerCommand,
    },
    /// Show the Docker version and the dhow containers on each server.
    Details,
    /// Remove the app, its accessories (data kept) and its proxy (kept while other services
    /// use it) from the hosts.
    Remove {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Accessories (databases, caches next to the app): boot, reboot, upgrade, start, stop,
    /// restart, details, logs, exec, remove; NAME or all.
    Accessory {
        #[command(subcommand)]
        cmd: accessory::AccessoryCommand,
    },
    /// The dhow-proxy container: boot, reboot (upgrade), start, stop, restart, details, logs,
    /// remove.
    Proxy {
        #[command(subcommand)]
        cmd: proxy::ProxyCommand,
    },
    /// Print a shell completion script: `dhow completions bash > /etc/bash_completion.d/dhow`,
    /// zsh: into a directory on $fpath as `_dhow`, fish: ~/.config/fish/completions/dhow.fish.
    Completions {
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Print the man page (roff): `dhow man > ~/.local/share/man/man1/dhow.1`.
    Man,
    /// Print the config reference built into this dhow, or one section of it (e.g. `proxy`);
    /// an unknown SECTION lists the sections.
    Docs {
        /// A `## ` heading of the reference, or its first word.
        section: Option<String>,
    },
}

/// Parse the command line. On `--help` or a usage error clap prints and we return the code.
pub fn parse() -> Result<(Cli, Output), ExitCode> {
    // `dhow help COMMAND` works as in most CLIs; below the top level there is no `help`.
    let command = || without_short_help(Cli::command()).disable_help_subcommand(false);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut matches = command().try_get_matches_from(&args);
    let mut alias_note = None;
    // An unknown command may be an alias from the config.
    if let Err(e) = &matches {
        if e.kind() == clap::error::ErrorKind::InvalidSubcommand {
            match aliases::expand(&args) {
                Some(Ok(expanded)) => {
                    matches = command().try_get_matches_from(&expanded.args);
                    alias_note = Some(expanded.note);
                }
                Some(Err(message)) => {
                    eprintln!("error: {message}");
                    return Err(ExitCode::from(3));
                }
                None => {}
            }
        }
    }
    // `--help` taken in by a trailing command (`app exec CMD --help`, an alias) still
    // prints help; after `--` it is the command's own.
    if let Ok(m) = &matches {
        if aliases::asks_help(&args) {
            if let Some(note) = alias_note {
                println!("{note}\n");
            }
            let mut path = vec!["dhow".to_string()];
            let mut at = m;
            while let Some((name, sub)) = at.subcommand() {
                path.push(name.to_string());
                at = sub;
            }
            path.push("--help".into());
            if let Err(e) = command().try_get_matches_from(&path) {
                let _ = e.print();
                return Err(ExitCode::from(if e.use_stderr() { 2 } else { 0 }));
            }
        }
    }
    match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => {
            crate::logging::init(cli.global.verbose, cli.global.log_format);
            let out = Output {
                json: cli.global.json,
                quiet: cli.global.quiet,
                verbose: cli.global.verbose > 0,
                log: crate::logging::active(cli.global.verbose),
            };
            Ok((cli, out))
        }
        Err(e) => {
            // With --json, a usage error is an `error` event too (help and --version stay text).
            if e.use_stderr()
                && args
                    .iter()
                    .take_while(|a| *a != "--")
                    .any(|a| a == "--json")
            {
                let text = e.to_string();
                let message = text.trim().trim_start_matches("error: ");
                let event = serde_json::json!({
                    "event": "error", "message": message, "exit_code": 2,
                    "usage": e.kind().as_str().unwrap_or("usage error"),
                });
                println!("{event}");
                return Err(ExitCode::from(2));
            }
            let _ = e.print();
            Err(ExitCode::from(if e.use_stderr() { 2 } else { 0 }))
        }
    }
}

/// `-h` means `--hosts` (as in Kamal); help is `--help` only, on every subcommand.
fn without_short_help(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_flag(true)
        .disable_help_subcommand(true)
        .mut_subcommands(without_short_help)
}

/// Run the parsed command.
pub async fn run(cli: Cli, out: Output) -> anyhow::Result<()> {
    let ctx = || context::Ctx::new(out, cli.global.clone());
    match &cli.command {
        Command::Deploy(args) => deploy::deploy(&ctx(), args, false).await,
        Command::Redeploy(args) => deploy::deploy(&ctx(), args, true).await,
        Command::Setup(args) => setup::run(&ctx(), args).await,
        Command::Rollback(args) => deploy::rollback(&ctx(), args).await,
        Command::Rollout { cmd } => rollout::run(&ctx(), cmd).await,
        Command::Versions => versions::run(&ctx()).await,
        Command::App { cmd } => match app::locking(cmd) {
            Some(what) => {
                let c = ctx();
                lock::hold(&c, what, || app::run(&c, cmd)).await
            }
            None => app::run(&ctx(), cmd).await,
        },
        Command::Build { cmd } => build::run(&ctx(), cmd).await,
        Command::Registry { cmd } => registry::run(&ctx(), cmd).await,
        Command::Lock { cmd } => lock::run(&ctx(), cmd).await,
        Command::Audit(args) => audit::run(&ctx(), args).await,
        Command::Cron { cmd } => cron::run(&ctx(), cmd).await,
        Command::Prune { cmd } => {
            let c = ctx();
            lock::hold(&c, "prune", || prune::run(&c, cmd.as_ref())).await
        }
        Command::Config { cmd } => config::run(&cli.global, &out, cmd.as_ref()),
        Command::Secrets { cmd } => secrets::run(&cli.global, &out, cmd),
        Command::Kube { cmd } => kube::run(&cli.global, &out, cmd),
        Command::Init(args) => init::run(args, &out),
        Command::Version => version::run(&out),
        Command::Completions { shell } => completions::run(*shell),
        Command::Man => man::run(),
        Command::Docs { section } => docs::run(section.as_deref(), &out)
            .map_err(|m| crate::error::fail(crate::error::Kind::Usage, m)),
        Command::Server { cmd } => server::run(&cli.global, cmd.clone(), &out).await,
        Command::Details => details::run(&cli.global, &out).await,
        Command::Proxy { cmd } => match cmd {
            proxy::ProxyCommand::Reboot { .. } => {
                let c = ctx();
                lock::hold(&c, "proxy reboot", || proxy::run(&c, cmd)).await
            }
            _ => proxy::run(&ctx(), cmd).await,
        },
        Command::Accessory { cmd } => match accessory::locking(cmd) {
            Some(what) => {
                let c = ctx();
                lock::hold(&c, what, || accessory::run(&c, cmd)).await
            }
            None => accessory::run(&ctx(), cmd).await,
        },
        Command::Remove { yes } => {
            let c = ctx();
            lock::hold(&c, "remove", || proxy::remove_everything(&c, *yes)).await
        }
    }
}
