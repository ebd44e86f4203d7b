//! Doppler through `doppler`, as Kamal's adapter calls it: `doppler me --json` (failing:
//! `doppler login -y`, which prompts), then one `doppler secrets get NAME... --json -p PROJECT
//! -c CONFIG` (`--from PROJECT/CONFIG`; no `-p`/`-c` with a service token, `DOPPLER_TOKEN=dp.st...`,
//! which names its own). Keys are the secret names; the values their `computed` form.

use super::run::{Call, Io, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;

const DOPPLER: Tool = Tool {
    program: "doppler",
    what: "the Doppler CLI",
    install: "https://docs.doppler.com/docs/install-cli",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let names = req.prefixed();
    let Some(first) = names.first() else {
        return Err(fail(Kind::Usage, "doppler: name the secrets"));
    };
    let mut call = Call::new(DOPPLER, &["secrets", "get"])
        .args(
            names
                .iter()
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_string()),
        )
        .arg("--json");
    if !service_token_set() {
        let mut parts = first.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(p), Some(c), _) if !p.is_empty() && !c.is_empty() => {
                call = call.args(["-p", p, "-c", c]);
            }
            _ => {
                return Err(fail(
                    Kind::Usage,
                    "doppler: missing project or config; give --from PROJECT/CONFIG",
                ))
            }
        }
    }
    if !Call::new(DOPPLER, &["me", "--json"]).run()?.ok {
        let login = Call::new(DOPPLER, &["login", "-y"]).io(Io::PromptAside);
        let ran = login.run()?;
        if !ran.ok {
            return Err(login.failed(&ran));
        }
    }
    let json = parse_json(&call.shown(), &call.output()?)?;
    let mut values = Values::new();
    for (name, v) in json.as_object().into_iter().flatten() {
        values.insert(
            name.clone(),
            v.get("computed").map(text).unwrap_or_default(),
        );
    }
    Ok(values)
}

fn service_token_set() -> bool {
    std::env::var("DOPPLER_TOKEN").is_ok_and(|t| t.starts_with("dp.st"))
}
