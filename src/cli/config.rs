//! `dhow config`: the merged config (base + destination) as dhow sees it, secrets by name only;
//! `dhow config schema`: the config's JSON Schema.

use super::Global;
use crate::output::Output;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of config/deploy.toml (and destination files): every key, its
    /// type and whether it may be left out. Needs no config.
    Schema,
}

pub fn run(global: &Global, out: &Output, cmd: Option<&ConfigCommand>) -> anyhow::Result<()> {
    if let Some(ConfigCommand::Schema) = cmd {
        println!("{}", crate::config::json_schema::document());
        return Ok(());
    }
    let loaded = super::hosts::load_config(global)?;
    let secrets: Vec<(String, String)> = loaded
        .secrets
        .defined
        .iter()
        .map(|(name, at)| (name.clone(), at.clone()))
        .collect();
    let record = serde_json::json!({
        "config": loaded.merged,
        "files": loaded.files,
        "destination": loaded.destination,
        "secrets": secrets.iter().map(|(n, at)| serde_json::json!({"name": n, "defined_at": at, "value": "[REDACTED]"})).collect::<Vec<_>>(),
    });
    let text = toml::to_string_pretty(&loaded.merged)?;
    out.data("config", &record, || {
        println!(
            "# merged from {}",
            loaded
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" + ")
        );
        print!("{text}");
        if !secrets.is_empty() {
            println!("\n# secrets (values redacted)");
            for (name, at) in &secrets {
                println!("# {name} = [REDACTED]  ({at})");
            }
        }
    });
    Ok(())
}
