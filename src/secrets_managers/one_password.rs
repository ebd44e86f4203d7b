//! 1Password through `op` (v2), as Kamal's adapter calls it: `op account get --account A`
//! tells whether a session exists, else `op signin --account A --force` (it may prompt; its
//! `export OP_SESSION_...=` line gives the session, passed on in the environment, never as
//! `--session`), then one `op item get ITEM --vault V --fields label=F,... --format json
//! --account A` per item. A name is `VAULT/ITEM/FIELD` (`--from VAULT/ITEM` in front of
//! `FIELD`; `FIELD` defaults to `password`); keys are the fields' `reference` without `op://`
//! and a trailing `/password`. No names with `--from VAULT/ITEM`: every field of that item.

use super::run::{Call, Io, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;
use std::collections::BTreeMap;

const OP: Tool = Tool {
    program: "op",
    what: "the 1Password CLI",
    install: "https://developer.1password.com/docs/cli/get-started/",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let account = req.account.as_deref().unwrap_or_default();
    let session = sign_in(account)?;
    let mut values = Values::new();
    if req.names.is_empty() {
        let Some(from) = &req.from else {
            return Err(fail(
                Kind::Usage,
                "1password: name the secrets (VAULT/ITEM/FIELD), or give --from VAULT/ITEM for all of an item's fields",
            ));
        };
        let (vault, item) = vault_item(from)?;
        let call = item_get(&item, &vault, account, &session);
        let answer = parse_json(&call.shown(), &call.output()?)?;
        let fields = answer
            .get("fields")
            .and_then(|f| f.as_array())
            .cloned()
            .unwrap_or_default();
        add_fields(&mut values, &fields);
        return Ok(values);
    }
    for ((vault, item), fields) in vaults_items_fields(&req.prefixed())? {
        let labels: Vec<String> = fields.iter().map(|f| format!("label={f}")).collect();
        let call = item_get(&item, &vault, account, &session)
            .args(["--fields".to_string(), labels.join(",")]);
        let answer = parse_json(&call.shown(), &call.output()?)?;
        // One field: an object; several: an array of them.
        let fields = match answer {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        add_fields(&mut values, &fields);
    }
    Ok(values)
}

fn item_get(item: &str, vault: &str, account: &str, session: &[(String, String)]) -> Call {
    Call::new(
        OP,
        &[
            "item",
            "get",
            item,
            "--vault",
            vault,
            "--format",
            "json",
            "--account",
            account,
        ],
    )
    .env(session)
}

/// Each field under its reference (`op://Vault/Item/field` -> `Vault/Item/field`, a trailing
/// `/password` dropped).
fn add_fields(values: &mut Values, fields: &[serde_json::Value]) {
    for f in fields {
        let Some(reference) = f.get("reference").and_then(|r| r.as_str()) else {
            continue;
        };
        let key = reference.strip_prefix("op://").unwrap_or(reference);
        let key = key.strip_suffix("/password").unwrap_or(key);
        values.insert(
            key.to_string(),
            f.get("value").map(text).unwrap_or_default(),
        );
    }
}

/// A session exists, or sign in; the environment that carries the session on.
fn sign_in(account: &str) -> Result<Vec<(String, String)>> {
    if Call::new(OP, &["account", "get", "--account", account])
        .run()?
        .ok
    {
        return Ok(Vec::new());
    }
    let call = Call::new(OP, &["signin", "--account", account, "--force"]).io(Io::Prompt);
    let ran = call.run()?;
    if !ran.ok {
        return Err(fail(
            Kind::Config,
            format!(
                "could not sign in to 1Password (`{}`: {})",
                call.shown(),
                ran.status
            ),
        ));
    }
    Ok(session_env(&ran.stdout))
}

/// `export OP_SESSION_x="token"` lines (what `eval $(op signin)` would run) as pairs. With the
/// desktop app integration there are none: op needs no token then.
fn session_env(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().strip_prefix("export ")?.split_once('=')?;
            name.starts_with("OP_SESSION_")
                .then(|| (name.to_string(), value.trim().trim_matches('"').to_string()))
        })
        .collect()
}

fn vault_item(from: &str) -> Result<(String, String)> {
    let from = from.strip_prefix("op://").unwrap_or(from);
    match from.split('/').collect::<Vec<_>>()[..] {
        [vault, item] if !vault.is_empty() && !item.is_empty() => Ok((vault.into(), item.into())),
        _ => Err(fail(
            Kind::Usage,
            format!("1password: --from `{from}` is not VAULT/ITEM"),
        )),
    }
}

/// `VAULT/ITEM[/SECTION]/FIELD` names grouped by vault and item; the field parts joined with
/// `.` (op's `SECTION.FIELD` label), `password` when there is none.
fn vaults_items_fields(names: &[String]) -> Result<BTreeMap<(String, String), Vec<String>>> {
    let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for name in names {
        let name = name.strip_prefix("op://").unwrap_or(name);
        let mut parts = name.split('/');
        let (Some(vault), Some(item)) = (parts.next(), parts.next()) else {
            return Err(fail(
                Kind::Usage,
                format!(
                    "1password: `{name}` is not VAULT/ITEM/FIELD (or FIELD with --from VAULT/ITEM)"
                ),
            ));
        };
        let mut field = parts.collect::<Vec<_>>().join(".");
        if field.is_empty() {
            field = "password".into();
        }
        let fields = grouped.entry((vault.into(), item.into())).or_default();
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    Ok(grouped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_group_by_vault_and_item() {
        let names = ["V/I/A", "V/I/Sec/B", "V/J", "op://W/K/C"].map(String::from);
        let g = vaults_items_fields(&names).unwrap();
        assert_eq!(g[&("V".into(), "I".into())], ["A", "Sec.B"]);
        assert_eq!(g[&("V".into(), "J".into())], ["password"]);
        assert_eq!(g[&("W".into(), "K".into())], ["C"]);
        assert!(vaults_items_fields(&["only".into()]).is_err());
    }

    #[test]
    fn the_session_comes_from_the_export_line() {
        let out = "export OP_SESSION_abc123=\"tok-en\"\n# This command is meant to be used with your shell's eval function.\n";
        assert_eq!(
            session_env(out),
            [("OP_SESSION_abc123".into(), "tok-en".into())]
        );
        assert!(session_env("").is_empty());
    }
}
