//! Loading: read `config/deploy.toml` and `config/deploy.<destination>.toml`, check each file
//! against the schema (so errors point at the file, line and column they come from), deep-merge
//! the destination over the base, validate the whole, and resolve the referenced secrets.

use super::locate::Located;
use super::schema::Config;
use super::secrets::{self, Secrets};
use super::validate;
use crate::error::{fail, Kind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A loaded, validated config.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub secrets: Secrets,
    pub destination: Option<String>,
    /// The merged TOML (for `dhow config`).
    pub merged: toml::Table,
    pub files: Vec<PathBuf>,
}

/// The destination file next to the base file: `deploy.toml` -> `deploy.<dest>.toml`.
pub fn destination_file(base: &Path, dest: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "deploy".into());
    base.with_file_name(format!("{stem}.{dest}.toml"))
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        fail(
            Kind::Config,
            format!(
                "cannot read {what} {}: {e}{}",
                path.display(),
                if what == "the config" {
                    " (run `dhow init` to write one, or pass -c FILE)"
                } else {
                    ""
                }
            ),
        )
    })
}

/// Check one file: TOML syntax, then the schema. Returns its table.
fn check_file(located: &Located) -> Result<toml::Table, String> {
    let table: toml::Table = toml::from_str(&located.text).map_err(|e| {
        let at = e
            .span()
            .map(|s| located.at(s.start))
            .unwrap_or_else(|| located.file.clone());
        format!("{at}: invalid TOML: {}", e.message().trim())
    })?;
    if let Err(e) = toml::from_str::<Config>(&located.text) {
        let offset = e.span().map(|s| refine(&located.text, s, e.message()));
        let at = offset
            .map(|o| located.at(o))
            .unwrap_or_else(|| located.file.clone());
        let path = offset
            .and_then(|o| located.path_at(o))
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        return Err(format!("{at}: {path}{}", explain(e.message())));
    }
    Ok(table)
}

/// Errors inside an array are reported at the array; when the message quotes the bad value,
/// point at that value inside the span instead.
fn refine(text: &str, span: std::ops::Range<usize>, msg: &str) -> usize {
    let quoted = msg.split('"').nth(1).filter(|q| !q.is_empty());
    if let (Some(q), Some(region)) = (quoted, text.get(span.clone())) {
        if let Some(i) = region.find(&format!("\"{q}\"")) {
            return span.start + i;
        }
    }
    span.start
}

/// Make serde's messages read well, with a suggestion for unknown keys.
fn explain(msg: &str) -> String {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let best = candidates
            .iter()
            .map(|c| (strsim::jaro_winkler(field, c), *c))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        return match best {
            Some((_, c)) => format!("unknown key `{field}`; did you mean `{c}`?"),
            None if !candidates.is_empty() => format!(
                "unknown key `{field}`; known keys here: {}",
                candidates.join(", ")
            ),
            None => format!("unknown key `{field}`"),
        };
    }
    msg.to_string()
}

/// Tables merge key by key; anything else in `over` replaces `base`.
pub fn deep_merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A destination name dhow accepts (it names files and containers).
pub fn check_destination(d: &str) -> anyhow::Result<()> {
    if d.is_empty()
        || !d
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(fail(
            Kind::Usage,
            format!("bad destination `{d}`: use letters, digits, - and _"),
        ));
    }
    if super::validate::dash_at_edge(d) {
        return Err(fail(
            Kind::Usage,
            super::validate::dash_at_edge_message("destination", d),
        ));
    }
    Ok(())
}

/// The files read and merged, before validation.
struct Parsed {
    config: Config,
    merged: toml::Table,
    files: Vec<PathBuf>,
    located: Vec<Located>,
}

/// Read the base file and the destination's, check each against the schema and merge them.
fn parse(config_file: &Path, destination: Option<&str>) -> anyhow::Result<Parsed> {
    let mut files = vec![config_file.to_path_buf()];
    if let Some(d) = destination {
        check_destination(d)?;
        files.push(destination_file(config_file, d));
    }
    let mut located = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let what = if i == 0 {
            "the config"
        } else {
            "the destination config"
        };
        located.push(Located::new(&f.display().to_string(), &read(f, what)?));
    }
    let mut errors = Vec::new();
    let mut merged = toml::Table::new();
    for l in &located {
        match check_file(l) {
            Ok(t) => deep_merge(&mut merged, t),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(fail(Kind::Config, errors.join("\n")));
    }
    let config = Config::deserialize(toml::Value::Table(merged.clone())).map_err(|e| {
        fail(
            Kind::Config,
            format!("{}: {}", config_file.display(), explain(&e.to_string())),
        )
    })?;
    Ok(Parsed {
        config,
        merged,
        files,
        located,
    })
}

/// Load and validate the config for an optional destination.
pub fn load(
    config_file: &Path,
    destination: Option<&str>,
    secrets_dir: &Path,
) -> anyhow::Result<Loaded> {
    let p = parse(config_file, destination)?;
    let defs = secrets::read(secrets_dir, destination)?;
    let needed = validate::validate(&p.config, destination, &p.located, &defs)?;
    let secrets = secrets::resolve(&defs, &needed)?;
    Ok(Loaded {
        config: p.config,
        secrets,
        destination: destination.map(str::to_string),
        merged: p.merged,
        files: p.files,
    })
}

/// Every check `load` makes except resolving the secrets (no `$(command)` of a secrets file
/// runs): for a config just written (`dhow init --from-kamal`). A secret the config references
/// but no secrets file defines is not an error here: the names of those are returned.
pub fn check(
    config_file: &Path,
    destination: Option<&str>,
    secrets_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let p = parse(config_file, destination)?;
    let mut defs = secrets::read(secrets_dir, destination)?;
    let mut undefined = Vec::new();
    for name in validate::referenced_secrets(&p.config) {
        if !defs.contains_key(&name) && !undefined.contains(&name) {
            defs.insert(
                name.clone(),
                secrets::Def {
                    raw: String::new(),
                    quoting: super::dotenv::Quoting::Single,
                    at: "(not defined yet)".into(),
                },
            );
            undefined.push(name);
        }
    }
    validate::validate(&p.config, destination, &p.located, &defs)?;
    Ok(undefined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_tables_and_replaces_the_rest() {
        let mut base: toml::Table =
            toml::from_str("a = 1\nlist = [1, 2]\n[t]\nx = 1\ny = 2\n").unwrap();
        let over: toml::Table = toml::from_str("list = [3]\n[t]\ny = 20\nz = 30\n").unwrap();
        deep_merge(&mut base, over);
        assert_eq!(base["a"].as_integer(), Some(1));
        assert_eq!(base["list"].as_array().unwrap().len(), 1);
        assert_eq!(base["t"]["x"].as_integer(), Some(1));
        assert_eq!(base["t"]["y"].as_integer(), Some(20));
        assert_eq!(base["t"]["z"].as_integer(), Some(30));
    }

    #[test]
    fn did_you_mean() {
        assert_eq!(
            explain("unknown field `servrs`, expected one of `service`, `servers`"),
            "unknown key `servrs`; did you mean `servers`?"
        );
    }
}
