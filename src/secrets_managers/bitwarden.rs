//! Bitwarden (the password manager) through `bw`, as Kamal's adapter calls it: `bw status`;
//! when unauthenticated `bw login ACCOUNT` (it prompts), when locked `bw unlock --raw` (it
//! prompts; its output is the session, passed on as `BW_SESSION` in the environment); then
//! `bw sync` and one `bw get item ITEM` per item. A name is `ITEM` (the login's password,
//! else every custom field) or `ITEM/FIELD` (a custom field); keys are the same.

use super::run::{Call, Io, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;

const BW: Tool = Tool {
    program: "bw",
    what: "the Bitwarden CLI",
    install: "https://bitwarden.com/help/cli/ (e.g. `npm install -g @bitwarden/cli`)",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let account = req.account.as_deref().unwrap_or_default();
    let session = unlock(account)?;
    Call::new(BW, &["sync"]).env(&session).output()?;
    let mut values = Values::new();
    for (item, fields) in items_fields(&req.prefixed()) {
        let call = Call::new(BW, &["get", "item", &item]).env(&session);
        let json = parse_json(&call.shown(), &call.output()?)?;
        let custom = |name: &str| {
            json.get("fields")
                .and_then(|f| f.as_array())
                .and_then(|fs| {
                    fs.iter()
                        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some(name))
                })
                .map(|f| f.get("value").map(text).unwrap_or_default())
                .ok_or_else(|| {
                    fail(
                        Kind::Config,
                        format!("bitwarden: item {item} has no field {name}"),
                    )
                })
        };
        if !fields.is_empty() {
            for f in &fields {
                values.insert(format!("{item}/{f}"), custom(f)?);
            }
        } else if let Some(p) = json.pointer("/login/password").filter(|p| !p.is_null()) {
            values.insert(item.clone(), text(p));
        } else if let Some(all) = json
            .get("fields")
            .and_then(|f| f.as_array())
            .filter(|a| !a.is_empty())
        {
            for f in all {
                if let Some(name) = f.get("name").and_then(|n| n.as_str()) {
                    values.insert(format!("{item}/{name}"), custom(name)?);
                }
            }
        } else {
            return Err(fail(
                Kind::Config,
                format!("bitwarden: item {item} is not a login item and no field was named (ITEM/FIELD)"),
            ));
        }
    }
    Ok(values)
}

fn status(session: &[(String, String)]) -> Result<String> {
    let call = Call::new(BW, &["status"]).env(session);
    let json = parse_json(&call.shown(), &call.output()?)?;
    Ok(json
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string())
}

/// Log in and unlock as needed; the `BW_SESSION` to pass on (none when already unlocked).
fn unlock(account: &str) -> Result<Vec<(String, String)>> {
    let mut session = Vec::new();
    let mut now = status(&session)?;
    if now == "unauthenticated" {
        Call::new(BW, &["login", account])
            .io(Io::PromptAside)
            .run()?;
        now = status(&session)?;
    }
    if now == "locked" {
        let ran = Call::new(BW, &["unlock", "--raw"]).io(Io::Prompt).run()?;
        let token = ran.stdout.trim();
        if ran.ok && !token.is_empty() {
            session.push(("BW_SESSION".to_string(), token.to_string()));
        }
        now = status(&session)?;
    }
    if now != "unlocked" {
        return Err(fail(
            Kind::Config,
            format!("could not log in to and unlock Bitwarden (bw status: {now})"),
        ));
    }
    Ok(session)
}

/// `ITEM[/FIELD]` names grouped by item, in order.
fn items_fields(names: &[String]) -> Vec<(String, Vec<String>)> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for name in names {
        let mut parts = name.splitn(3, '/');
        let item = parts.next().unwrap_or_default().to_string();
        let field = parts.next().map(str::to_string);
        let at = match grouped.iter().position(|(i, _)| *i == item) {
            Some(at) => at,
            None => {
                grouped.push((item, Vec::new()));
                grouped.len() - 1
            }
        };
        if let Some(f) = field {
            grouped[at].1.push(f);
        }
    }
    grouped
}
