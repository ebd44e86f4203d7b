//! `dhow init --from-kamal`: a Kamal project's `config/deploy.yml` (and each
//! `config/deploy.<destination>.yml`) turned into dhow's `config/deploy.toml` (and
//! `deploy.<destination>.toml`), its secrets files and hooks copied, and the result checked
//! the way `dhow config` checks it. One file per concern: `yaml.rs` reading (ERB refused),
//! `map.rs` / `env.rs` / `sections.rs` / `accessories.rs` the key mapping, `write.rs` the TOML with its
//! `# kamal:` comments, `files.rs` secrets and hooks. Nothing is overwritten, and every Kamal
//! key dhow does not take is warned about with its path.

mod accessories;
mod env;
mod files;
mod map;
mod sections;
mod write;
mod yaml;

#[cfg(test)]
pub use files::HOOK_NAMES;

use crate::error::{fail, Kind};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What an import did: one line per file (`wrote`, `skipped`), and the warnings.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
    /// Conversions worth knowing (also written as comments in the TOML).
    pub notes: Vec<String>,
}

/// One converted file.
pub struct Converted {
    pub toml: String,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// Convert one Kamal YAML file's text (`file` names it in messages); `carried_tags`: the tags
/// the hosts of the project's files carry.
pub fn convert(
    file: &str,
    text: &str,
    carried_tags: &BTreeSet<String>,
) -> anyhow::Result<Converted> {
    yaml::refuse_erb(file, text)?;
    let root = yaml::parse(file, text)?;
    let mut out = write::Out::default();
    out.carried_tags = carried_tags.clone();
    map::map(&root, &mut out);
    let warnings = out.warnings.clone();
    let notes = out.notes.clone();
    let header = format!(
        "# Converted by `dhow init --from-kamal` from {file}.\n\
         # Lines `# kamal: ...` say what did not carry over or was changed; every key is in\n\
         # docs/config.md (`dhow docs`).\n"
    );
    Ok(Converted {
        toml: out.render(&header),
        warnings,
        notes,
    })
}

/// `toml` with the `#:schema` line of `dhow init`'s template in front.
fn with_schema_line(toml: &str) -> String {
    format!("{}\n{toml}", crate::config::json_schema::SCHEMA_LINE)
}

/// The destination files beside the base one: `deploy.<dest>.yml` -> `dest`, sorted.
fn destinations(base: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let dir = base.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let stem = base
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("deploy");
    let mut v = Vec::new();
    let rd = std::fs::read_dir(dir)
        .map_err(|e| fail(Kind::Config, format!("cannot read {}: {e}", dir.display())))?;
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let dest = name
            .strip_prefix(&format!("{stem}."))
            .and_then(|r| r.strip_suffix(".yml").or_else(|| r.strip_suffix(".yaml")));
        if let Some(d) = dest.filter(|d| !d.is_empty() && !d.contains('.')) {
            v.push((d.to_string(), e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// A top-level string of the base YAML (`secrets_path`, `hooks_path`).
fn top_string(text: &str, key: &str) -> Option<String> {
    let root = yaml::parse("", text).ok()?;
    root.map()?
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.str().map(str::to_string))
}

/// Import the Kamal project whose config is `from` into the current directory.
pub fn import(from: &Path) -> anyhow::Result<Report> {
    let base_text = std::fs::read_to_string(from).map_err(|e| {
        fail(
            Kind::Config,
            format!("cannot read the Kamal config {}: {e}", from.display()),
        )
    })?;
    let mut sources = vec![(None, from.to_path_buf(), base_text.clone())];
    for (dest, path) in destinations(from)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(Kind::Config, format!("cannot read {}: {e}", path.display())))?;
        sources.push((Some(dest), path, text));
    }
    // Env for a tag is kept when a host of any file carries it (a destination may tag hosts).
    let mut carried = BTreeSet::new();
    for (_, path, text) in &sources {
        yaml::refuse_erb(&path.display().to_string(), text)?;
        carried.extend(env::host_tags(&yaml::parse(
            &path.display().to_string(),
            text,
        )?));
    }
    // Every file converts before anything is written: ERB in one file writes nothing.
    let mut converted = Vec::new();
    for (dest, path, text) in &sources {
        let c = convert(&path.display().to_string(), text, &carried)?;
        converted.push((dest.clone(), path.display().to_string(), c));
    }
    let mut r = Report::default();
    let base_toml = PathBuf::from("config/deploy.toml");
    let writes_base = !base_toml.exists();
    for (dest, shown, c) in &converted {
        // The base file names the schema as `dhow init`'s does (a destination file is a
        // partial config the schema's required keys would flag).
        let (to, body) = match dest {
            None => (base_toml.clone(), with_schema_line(&c.toml)),
            Some(d) => (
                crate::config::load::destination_file(&base_toml, d),
                c.toml.clone(),
            ),
        };
        r.warnings
            .extend(c.warnings.iter().map(|w| format!("{shown}: {w}")));
        r.notes
            .extend(c.notes.iter().map(|n| format!("{shown}: {n}")));
        files::write_new(&to, &body, 0o644, shown, &mut r)?;
    }
    if writes_base && crate::config::json_schema::write_new()? {
        let file = crate::config::json_schema::SCHEMA_FILE;
        r.lines.push(format!(
            "wrote {file} (the config's JSON Schema, for editors)"
        ));
    }
    let secrets_path = top_string(&base_text, "secrets_path").unwrap_or(".kamal/secrets".into());
    files::secrets(Path::new(&secrets_path), &mut r)?;
    let hooks_path = top_string(&base_text, "hooks_path").unwrap_or(".kamal/hooks".into());
    files::hooks(Path::new(&hooks_path), &mut r)?;
    check(&base_toml, &converted, &mut r)?;
    Ok(r)
}

/// Load and validate what was written, as `dhow config` would (without running the secrets'
/// commands); a secret referenced and not defined yet is a warning.
fn check(
    base: &Path,
    converted: &[(Option<String>, String, Converted)],
    r: &mut Report,
) -> anyhow::Result<()> {
    let mut undefined: Vec<String> = Vec::new();
    let required = std::fs::read_to_string(base)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("require_destination").and_then(toml::Value::as_bool))
        == Some(true);
    for (dest, _, _) in converted {
        let file = match dest {
            None => base.to_path_buf(),
            Some(d) => crate::config::load::destination_file(base, d),
        };
        if dest.is_none() && required && converted.len() > 1 {
            r.lines.push(format!(
                "checked {} with each destination only (require_destination = true)",
                file.display()
            ));
            continue;
        }
        let missing = crate::config::load::check(base, dest.as_deref(), Path::new(".dhow"))
            .map_err(|e| {
                fail(
                    Kind::Config,
                    format!(
                        "{} does not load as a dhow config (fix it by hand, or move it away and \
                         run again):\n{e}",
                        file.display()
                    ),
                )
            })?;
        for m in missing {
            if !undefined.contains(&m) {
                undefined.push(m);
            }
        }
        r.lines.push(format!(
            "checked {}: it loads and validates",
            file.display()
        ));
    }
    for m in undefined {
        r.warnings.push(format!(
            "secret {m} is referenced but defined in no .dhow/secrets* file: define it before \
             deploying"
        ));
    }
    Ok(())
}
