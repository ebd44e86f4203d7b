//! Bitwarden Secrets Manager through `bws` (its access token in `BWS_ACCESS_TOKEN`, as bws
//! reads it), as Kamal's adapter calls it: `bws run 'echo OK'` checks the token; a name is a
//! secret's id (`bws secret get ID`), or `all` (`bws secret list`), or `PROJECT_ID/all`
//! (`bws secret list PROJECT_ID`). Keys are the secrets' own `key`s.

use super::run::{Call, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;

const BWS: Tool = Tool {
    program: "bws",
    what: "the Bitwarden Secrets Manager CLI",
    install: "https://bitwarden.com/help/secrets-manager-cli/",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let names = req.prefixed();
    if names.is_empty() {
        return Err(fail(
            Kind::Usage,
            "bitwarden-sm: name the secrets (their ids), `all`, or `PROJECT_ID/all`",
        ));
    }
    let check = Call::new(BWS, &["run", "echo OK"]);
    let ran = check.run()?;
    if !ran.ok {
        return Err(fail(
            Kind::Config,
            format!(
                "could not authenticate to Bitwarden Secrets Manager; is BWS_ACCESS_TOKEN set to a valid access token? ({})",
                check.failed(&ran)
            ),
        ));
    }
    let mut values = Values::new();
    let list = match &names[..] {
        [one] if one == "all" => Some(Call::new(BWS, &["secret", "list"])),
        [one] => one
            .strip_suffix("/all")
            .map(|project| Call::new(BWS, &["secret", "list", project])),
        _ => None,
    };
    let mut add = |secret: &serde_json::Value| {
        if let Some(key) = secret.get("key").and_then(|k| k.as_str()) {
            values.insert(
                key.to_string(),
                secret.get("value").map(text).unwrap_or_default(),
            );
        }
    };
    match list {
        Some(call) => {
            let json = parse_json(&call.shown(), &call.output()?)?;
            json.as_array().into_iter().flatten().for_each(&mut add);
        }
        None => {
            for id in &names {
                let call = Call::new(BWS, &["secret", "get", id]);
                add(&parse_json(&call.shown(), &call.output()?)?);
            }
        }
    }
    Ok(values)
}
