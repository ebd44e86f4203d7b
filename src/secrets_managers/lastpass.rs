//! LastPass through `lpass`, as Kamal's adapter calls it: `lpass status --color never` must say
//! `Logged in as ACCOUNT.` (else `lpass login ACCOUNT`, which prompts), then one `lpass show
//! NAME... --json`. Keys are the entries' `fullname` (`Folder/Name`); every name must be found.

use super::run::{Call, Io, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;

const LPASS: Tool = Tool {
    program: "lpass",
    what: "the LastPass CLI",
    install: "https://github.com/lastpass/lastpass-cli",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let account = req.account.as_deref().unwrap_or_default();
    let names = req.prefixed();
    if names.is_empty() {
        return Err(fail(Kind::Usage, "lastpass: name the secrets"));
    }
    let status = Call::new(LPASS, &["status", "--color", "never"]).run()?;
    if status.stdout.trim() != format!("Logged in as {account}.") {
        let login = Call::new(LPASS, &["login", account]).io(Io::PromptAside);
        let ran = login.run()?;
        if !ran.ok {
            return Err(login.failed(&ran));
        }
    }
    let call = Call::new(LPASS, &["show"])
        .args(names.iter().cloned())
        .arg("--json");
    let json = parse_json(&call.shown(), &call.output()?)?;
    let mut values = Values::new();
    for entry in json.as_array().into_iter().flatten() {
        if let Some(name) = entry.get("fullname").and_then(|n| n.as_str()) {
            values.insert(
                name.to_string(),
                entry.get("password").map(text).unwrap_or_default(),
            );
        }
    }
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !values.contains_key(n.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(fail(
            Kind::Config,
            format!("could not find {} in LastPass", missing.join(", ")),
        ));
    }
    Ok(values)
}
