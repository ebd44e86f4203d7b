//! Secrets: dotenv-style files in `.dhow/` layered `secrets-common` < `secrets` <
//! `secrets.<destination>`. A value may be `$(command)` (its trimmed output) or contain
//! `${ENV_VAR}`. Only secrets the config references are resolved (so an unrelated failing
//! command does not block a deploy). Values are `SecretString`s: they never print, and no
//! error message contains one.

use crate::error::{fail, Kind};
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Resolved secrets.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: BTreeMap<String, SecretString>,
    /// Where each name was defined (for `dhow config`), including unresolved ones.
    pub defined: BTreeMap<String, String>,
}

impl Secrets {
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.values.get(name)
    }
}

/// The secrets files for a destination, lowest precedence first.
pub fn files(dir: &Path, destination: Option<&str>) -> Vec<PathBuf> {
    let mut v = vec![dir.join("secrets-common"), dir.join("secrets")];
    if let Some(d) = destination {
        v.push(dir.join(format!("secrets.{d}")));
    }
    v
}

/// Raw definitions: name -> (raw value, file:line).
pub fn read(
    dir: &Path,
    destination: Option<&str>,
) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let mut defs = BTreeMap::new();
    for file in files(dir, destination) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(fail(
                    Kind::Config,
                    format!("{}: cannot read: {e}", file.display()),
                ))
            }
        };
        for (i, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), i + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((name, value)) = line.split_once('=') else {
                return Err(fail(
                    Kind::Config,
                    format!(
                        "{at}: expected NAME=value (the line is not shown: it may hold a secret)"
                    ),
                ));
            };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(fail(
                    Kind::Config,
                    format!("{at}: bad secret name `{name}`: use letters, digits and _"),
                ));
            }
            let value = unquote(value.trim())
                .map_err(|e| fail(Kind::Config, format!("{at}: {name}: {e}")))?;
            defs.insert(name.to_string(), (value, at));
        }
    }
    Ok(defs)
}

fn unquote(v: &str) -> Result<String, String> {
    if let Some(inner) = v.strip_prefix('\'') {
        return inner
            .strip_suffix('\'')
            .map(str::to_string)
            .ok_or_else(|| "unterminated single quote".to_string());
    }
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| "unterminated double quote".to_string())?;
        return Ok(inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\"));
    }
    // Unquoted: a trailing ` # comment` is not part of the value.
    Ok(v.split(" #").next().unwrap_or("").trim_end().to_string())
}

/// Resolve the `needed` secrets (all must be defined).
pub fn resolve(
    defs: &BTreeMap<String, (String, String)>,
    needed: &BTreeSet<String>,
) -> anyhow::Result<Secrets> {
    let mut secrets = Secrets {
        values: BTreeMap::new(),
        defined: defs
            .iter()
            .map(|(k, (_, at))| (k.clone(), at.clone()))
            .collect(),
    };
    for name in needed {
        let Some((raw, at)) = defs.get(name) else {
            continue;
        };
        let value =
            expand(raw).map_err(|e| fail(Kind::Config, format!("{at}: secret {name}: {e}")))?;
        secrets
            .values
            .insert(name.clone(), SecretString::from(value));
    }
    Ok(secrets)
}

/// `$(command)` runs through `sh -c`; `${VAR}` reads the environment.
fn expand(raw: &str) -> Result<String, String> {
    if let Some(cmd) = raw.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run its command: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or("").trim();
            return Err(format!(
                "its command failed ({}){}",
                out.status,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            ));
        }
        return Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string());
    }
    super::interpolate::interpolate(raw, |var| std::env::var(var).ok()).map_err(|m| match m {
        super::interpolate::Missing::Unterminated => "unterminated ${".to_string(),
        super::interpolate::Missing::Unknown(var) => {
            format!("environment variable {var} is not set")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn layering_commands_and_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets-common"), "A=common\nB=common\n").unwrap();
        std::fs::write(dir.path().join("secrets"), "# comment\nB=\"base\"\nC=$(printf 'from-cmd\\n')\nD=${DHOW_TEST_SECRET_VAR}-x\nE=$(exit 3)\n").unwrap();
        std::fs::write(dir.path().join("secrets.staging"), "export A='staging'\n").unwrap();
        std::env::set_var("DHOW_TEST_SECRET_VAR", "env");
        let defs = read(dir.path(), Some("staging")).unwrap();
        let needed: BTreeSet<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
        let s = resolve(&defs, &needed).unwrap();
        assert_eq!(s.get("A").unwrap().expose_secret(), "staging");
        assert_eq!(s.get("B").unwrap().expose_secret(), "base");
        assert_eq!(s.get("C").unwrap().expose_secret(), "from-cmd");
        assert_eq!(s.get("D").unwrap().expose_secret(), "env-x");
        assert!(
            s.get("E").is_none(),
            "unreferenced secrets are not resolved"
        );
        let err = resolve(&defs, &["E".to_string()].into()).unwrap_err();
        assert!(
            format!("{err}").contains("secret E: its command failed"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_line_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets"), "OK=1\nhunter2\n").unwrap();
        let err = format!("{}", read(dir.path(), None).unwrap_err());
        assert!(err.contains("secrets:2: expected NAME=value"), "{err}");
        assert!(!err.contains("hunter2"));
    }
}
