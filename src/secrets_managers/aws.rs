//! AWS Secrets Manager through `aws`, as Kamal's adapter calls it: one `aws secretsmanager
//! batch-get-secret-value --secret-id-list NAME... [--profile ACCOUNT] --output json`. A secret
//! whose string is a JSON object gives one key per member (`NAME/member`), any other the key
//! `NAME`. The answer's `Errors` (ids and messages, no values) fail the fetch.

use super::run::{Call, Tool};
use super::{parse_json, text, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;

const AWS: Tool = Tool {
    program: "aws",
    what: "the AWS CLI",
    install: "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
};

pub fn fetch(req: &Request) -> Result<Values> {
    let names = req.prefixed();
    if names.is_empty() {
        return Err(fail(Kind::Usage, "aws_secrets_manager: name the secrets"));
    }
    let mut call = Call::new(
        AWS,
        &[
            "secretsmanager",
            "batch-get-secret-value",
            "--secret-id-list",
        ],
    )
    .args(names);
    if let Some(profile) = &req.account {
        call = call.args(["--profile", profile.as_str()]);
    }
    let call = call.args(["--output", "json"]);
    let json = parse_json(&call.shown(), &call.output()?)?;
    let errors: Vec<String> = json
        .get("Errors")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("SecretId").map(text).unwrap_or_default(),
                e.get("Message").map(text).unwrap_or_default()
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(fail(
            Kind::Config,
            format!("AWS Secrets Manager: {}", errors.join("; ")),
        ));
    }
    let mut values = Values::new();
    for secret in json
        .get("SecretValues")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let name = secret.get("Name").map(text).unwrap_or_default();
        let string = secret.get("SecretString").map(text).unwrap_or_default();
        match serde_json::from_str::<serde_json::Value>(&string) {
            Ok(serde_json::Value::Object(members)) => {
                for (k, v) in members {
                    values.insert(format!("{name}/{k}"), text(&v));
                }
            }
            _ => {
                values.insert(name, string);
            }
        }
    }
    Ok(values)
}
