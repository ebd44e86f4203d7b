//! Secrets managers for `dhow secrets fetch`: one adapter per vendor, each running the vendor's
//! own CLI with the calls Kamal's adapter makes (`run.rs` runs them, with a timeout) and
//! naming the values as Kamal does (e.g. `Vault/Item/FIELD` for 1Password), so the
//! `fetch`/`extract` pairs of a `.kamal/secrets` file work unchanged. `extract.rs` picks one
//! value out of a fetch's JSON.

mod aws;
mod bitwarden;
mod bitwarden_sm;
mod doppler;
pub mod extract;
mod gcp;
mod lastpass;
mod one_password;
mod run;

use crate::error::{fail, Kind};
use anyhow::Result;
use std::collections::BTreeMap;

/// What the user asked for: `--account`, `--from` and the secret names.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub account: Option<String>,
    pub from: Option<String>,
    pub names: Vec<String>,
}

impl Request {
    /// The names with `--from` in front (`FROM/NAME`), as Kamal's adapters see them.
    pub fn prefixed(&self) -> Vec<String> {
        self.names
            .iter()
            .map(|n| match &self.from {
                Some(f) => format!("{f}/{n}"),
                None => n.clone(),
            })
            .collect()
    }

    /// `--account`, for the adapters that need it.
    fn account(&self, adapter: &Adapter) -> Result<&str> {
        self.account
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!("the {} adapter needs --account", adapter.name),
                )
            })
    }
}

/// Fetched values by key.
pub type Values = BTreeMap<String, String>;

/// One secrets manager.
#[derive(Debug)]
pub struct Adapter {
    /// The name `--adapter` takes (Kamal's).
    pub name: &'static str,
    /// Other names Kamal accepts for it.
    pub aliases: &'static [&'static str],
    /// Whether `--account` is required.
    pub needs_account: bool,
    fetch: fn(&Request) -> Result<Values>,
}

/// Every adapter, in the order `--help` and errors list them.
pub const ADAPTERS: &[Adapter] = &[
    Adapter {
        name: "1password",
        aliases: &["one_password"],
        needs_account: true,
        fetch: one_password::fetch,
    },
    Adapter {
        name: "bitwarden",
        aliases: &[],
        needs_account: true,
        fetch: bitwarden::fetch,
    },
    Adapter {
        name: "bitwarden-sm",
        aliases: &["bitwarden_secrets_manager"],
        needs_account: false,
        fetch: bitwarden_sm::fetch,
    },
    Adapter {
        name: "aws_secrets_manager",
        aliases: &[],
        needs_account: false,
        fetch: aws::fetch,
    },
    Adapter {
        name: "gcp_secret_manager",
        aliases: &["gcp"],
        needs_account: true,
        fetch: gcp::fetch,
    },
    Adapter {
        name: "doppler",
        aliases: &[],
        needs_account: false,
        fetch: doppler::fetch,
    },
    Adapter {
        name: "lastpass",
        aliases: &["last_pass"],
        needs_account: true,
        fetch: lastpass::fetch,
    },
];

/// The adapter called `name` (case-insensitive, aliases included); an unknown name lists them.
pub fn lookup(name: &str) -> Result<&'static Adapter> {
    let wanted = name.to_ascii_lowercase();
    ADAPTERS
        .iter()
        .find(|a| a.name == wanted || a.aliases.contains(&wanted.as_str()))
        .ok_or_else(|| {
            let known: Vec<String> = ADAPTERS
                .iter()
                .map(|a| {
                    if a.aliases.is_empty() {
                        a.name.to_string()
                    } else {
                        format!("{} (or {})", a.name, a.aliases.join(", "))
                    }
                })
                .collect();
            fail(
                Kind::Usage,
                format!(
                    "unknown secrets adapter `{name}`; known: {}",
                    known.join(", ")
                ),
            )
        })
}

impl Adapter {
    /// Fetch the request's secrets through the vendor's CLI.
    pub fn fetch(&self, req: &Request) -> Result<Values> {
        if self.needs_account {
            req.account(self)?;
        }
        (self.fetch)(req)
    }
}

/// A JSON value as a secret's text: a string as is, null as empty, anything else as JSON.
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parse a CLI's JSON answer; the error names the command, never the text (it may hold a
/// secret).
fn parse_json(what: &str, stdout: &str) -> Result<serde_json::Value> {
    serde_json::from_str(stdout.trim()).map_err(|e| {
        fail(
            Kind::Config,
            format!(
                "`{what}` did not answer with the JSON dhow expects (line {}, column {}); its \
                 output is not shown since it may hold a secret",
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_as_kamal_takes_them() {
        for (name, is) in [
            ("1password", "1password"),
            ("1Password", "1password"),
            ("one_password", "1password"),
            ("lastpass", "lastpass"),
            ("last_pass", "lastpass"),
            ("gcp", "gcp_secret_manager"),
            ("bitwarden-sm", "bitwarden-sm"),
            ("bitwarden_secrets_manager", "bitwarden-sm"),
            ("aws_secrets_manager", "aws_secrets_manager"),
            ("doppler", "doppler"),
        ] {
            assert_eq!(lookup(name).unwrap().name, is, "{name}");
        }
        let err = lookup("vaultx").unwrap_err().to_string();
        assert!(err.contains("unknown secrets adapter `vaultx`"), "{err}");
        assert!(
            err.contains("1password") && err.contains("doppler"),
            "{err}"
        );
    }

    #[test]
    fn from_prefixes_the_names() {
        let req = Request {
            from: Some("Vault/Item".into()),
            names: vec!["A".into(), "B".into()],
            ..Request::default()
        };
        assert_eq!(req.prefixed(), ["Vault/Item/A", "Vault/Item/B"]);
    }
}
