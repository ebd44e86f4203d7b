//! `dhow secrets fetch|extract|print`: Kamal's `kamal secrets` for `.dhow/secrets` files.
//! `fetch` asks a password manager's CLI (`secrets_managers/`) and prints one JSON object,
//! `extract` picks one value out of it, `print` shows the resolved secrets (the one command
//! that prints values). `fetch` and `extract` need no config. With `--json`, `fetch` and `print`
//! give one `secrets` object (`{"secrets": {NAME: value}}`), `extract` one `secret`.

use super::Global;
use crate::config::secrets;
use crate::output::Output;
use crate::secrets_managers::{self, extract::extract, Request};
use clap::Subcommand;
use secrecy::ExposeSecret;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, Subcommand)]
pub enum SecretsCommand {
    /// Fetch secrets with a password manager's own CLI and print them as one JSON object
    /// `{"KEY": "value", ...}`, keys named as Kamal's adapters name them (1Password:
    /// `VAULT/ITEM/FIELD`). Meant for `.dhow/secrets`: `SECRETS=$(dhow secrets fetch ...)`.
    /// The JSON has no space, `*`, `?` or `[` (they are `\uXXXX`), so an unquoted `$SECRETS`
    /// stays one word.
    ///
    /// Adapters: 1password (op), bitwarden (bw), bitwarden-sm (bws), aws_secrets_manager (aws),
    /// gcp_secret_manager or gcp (gcloud), doppler (doppler), lastpass (lpass). Each CLI call
    /// has a timeout (60 s; 300 s for one that may prompt to sign in).
    Fetch {
        /// The password manager.
        #[arg(short = 'a', long)]
        adapter: String,
        /// The account (1Password account, Bitwarden or LastPass email, gcloud user, AWS
        /// profile); needed by 1password, bitwarden, gcp_secret_manager and lastpass.
        #[arg(long)]
        account: Option<String>,
        /// Put in front of every secret name as `FROM/NAME` (a vault/item, folder, project/config).
        #[arg(long)]
        from: Option<String>,
        /// The secrets to fetch.
        secrets: Vec<String>,
    },
    /// Print the value of NAME from the JSON a fetch printed (the key NAME, else the key that
    /// ends with `/NAME`): `KEY=$(dhow secrets extract KEY $SECRETS)`. The JSON may come as
    /// several arguments (an unquoted `$SECRETS` is split); they are joined with spaces.
    Extract {
        /// The secret to print.
        name: String,
        /// The JSON from `dhow secrets fetch`.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        secrets: Vec<String>,
    },
    /// Print every secret of `.dhow/secrets*` (with -d, the destination's too) resolved, as
    /// `NAME=value` lines. This is the one command that shows secret values.
    Print,
}

pub fn run(global: &Global, out: &Output, cmd: &SecretsCommand) -> anyhow::Result<()> {
    match cmd {
        SecretsCommand::Fetch {
            adapter,
            account,
            from,
            secrets,
        } => {
            let adapter = secrets_managers::lookup(adapter)?;
            let values = adapter.fetch(&Request {
                account: account.clone(),
                from: from.clone(),
                names: secrets.clone(),
            })?;
            let text = secrets_managers::extract::to_json(&values)?;
            let record = serde_json::json!({ "secrets": values });
            out.data("secrets", &record, || println!("{text}"));
            Ok(())
        }
        SecretsCommand::Extract { name, secrets } => {
            let value = extract(name, secrets)?;
            let record = serde_json::json!({ "name": name, "value": value });
            out.data("secret", &record, || println!("{value}"));
            Ok(())
        }
        SecretsCommand::Print => print(global, out),
    }
}

fn print(global: &Global, out: &Output) -> anyhow::Result<()> {
    let destination = global.destination.as_deref();
    if let Some(d) = destination {
        crate::config::load::check_destination(d)?;
    }
    let defs = secrets::read(Path::new(".dhow"), destination)?;
    let all: BTreeSet<String> = defs.keys().cloned().collect();
    let resolved = secrets::resolve(&defs, &all)?;
    let values: BTreeMap<&str, &str> = all
        .iter()
        .filter_map(|name| Some((name.as_str(), resolved.get(name)?.expose_secret())))
        .collect();
    let record = serde_json::json!({ "secrets": values });
    out.data("secrets", &record, || {
        for (name, value) in &values {
            println!("{name}={value}");
        }
    });
    Ok(())
}
