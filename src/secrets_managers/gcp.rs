//! Google Secret Manager through `gcloud`, as Kamal's adapter calls it: `gcloud auth list
//! --format=json` (none: `gcloud auth login`, which prompts), then per secret `gcloud secrets
//! versions access VERSION --secret=NAME [--project=P] [--account=U]
//! [--impersonate-service-account=SA] --format=json`, whose base64 `payload.data` is the value.
//! A name is `[PROJECT/]NAME[/VERSION]` (`default` project and `latest` version when left out);
//! `--account` is `USER` or `USER|SERVICE_ACCOUNT[,...]` (`default` for gcloud's own). Keys are
//! `PROJECT/NAME`.

use super::run::{Call, Io, Tool};
use super::{parse_json, Request, Values};
use crate::error::{fail, Kind};
use anyhow::Result;
use base64::Engine;

const GCLOUD: Tool = Tool {
    program: "gcloud",
    what: "the Google Cloud CLI",
    install: "https://cloud.google.com/sdk/docs/install",
};

pub fn fetch(req: &Request) -> Result<Values> {
    if !logged_in()? {
        Call::new(GCLOUD, &["auth", "login"])
            .io(Io::PromptAside)
            .run()?;
        if !logged_in()? {
            return Err(fail(
                Kind::Config,
                "gcloud is not authenticated; run `gcloud auth login`",
            ));
        }
    }
    let account = req.account.as_deref().unwrap_or("default");
    let (user, impersonate) = match account.split_once('|') {
        Some((u, sa)) => (u, Some(sa)),
        None => (account, None),
    };
    let mut values = Values::new();
    for name in req.prefixed() {
        let mut parts: Vec<&str> = name.split('/').collect();
        if parts.len() == 1 {
            parts.insert(0, "default");
        }
        let (project, secret) = (parts[0], parts[1]);
        let version = parts.get(2).copied().unwrap_or("latest");
        let mut call = Call::new(GCLOUD, &["secrets", "versions", "access", version])
            .arg(format!("--secret={secret}"));
        if project != "default" {
            call = call.arg(format!("--project={project}"));
        }
        if user != "default" {
            call = call.arg(format!("--account={user}"));
        }
        if let Some(sa) = impersonate {
            call = call.arg(format!("--impersonate-service-account={sa}"));
        }
        let call = call.arg("--format=json");
        let json = parse_json(&call.shown(), &call.output()?)?;
        let data = json
            .pointer("/payload/data")
            .and_then(|d| d.as_str())
            .unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| {
                fail(
                    Kind::Config,
                    format!("`{}`: payload.data is not base64", call.shown()),
                )
            })?;
        let value = String::from_utf8(bytes).map_err(|_| {
            fail(
                Kind::Config,
                format!("{project}/{secret}: the value is not UTF-8 text"),
            )
        })?;
        values.insert(format!("{project}/{secret}"), value);
    }
    Ok(values)
}

fn logged_in() -> Result<bool> {
    let call = Call::new(GCLOUD, &["auth", "list", "--format=json"]);
    let json = parse_json(&call.shown(), &call.output()?)?;
    Ok(json.as_array().is_some_and(|a| !a.is_empty()))
}
