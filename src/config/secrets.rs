//! Secrets: dotenv files (`dotenv.rs`) in `.dhow/` layered `secrets-common` < `secrets` <
//! `secrets.<destination>`. A value may be `$(command)` (its trimmed output; the secrets it
//! names as `$NAME` are in its environment) or contain `${NAME}` (another secret, else an
//! environment variable); single-quoted values are literal. Only secrets the config references are resolved (so an unrelated failing
//! command does not block a deploy). Values are `SecretString`s: they never print, and no
//! error message contains one.

use super::dotenv::Quoting;
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

/// One definition as written: its value (not yet expanded), how it was quoted, its `file:line`.
#[derive(Debug, Clone)]
pub struct Def {
    pub raw: String,
    pub quoting: Quoting,
    pub at: String,
}

/// Every definition by name (a later file's wins).
pub type Defs = BTreeMap<String, Def>;

/// Raw definitions from the secrets files (the dotenv syntax of `dotenv.rs`).
pub fn read(dir: &Path, destination: Option<&str>) -> anyhow::Result<Defs> {
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
        let entries = super::dotenv::parse(&text).map_err(|(line, msg)| {
            fail(Kind::Config, format!("{}:{line}: {msg}", file.display()))
        })?;
        for e in entries {
            let at = format!("{}:{}", file.display(), e.line);
            defs.insert(
                e.name,
                Def {
                    raw: e.value,
                    quoting: e.quoting,
                    at,
                },
            );
        }
    }
    Ok(defs)
}

/// Resolve the `needed` secrets (and the definitions they refer to).
pub fn resolve(defs: &Defs, needed: &BTreeSet<String>) -> anyhow::Result<Secrets> {
    let mut secrets = Secrets {
        values: BTreeMap::new(),
        defined: defs
            .iter()
            .map(|(k, d)| (k.clone(), d.at.clone()))
            .collect(),
    };
    let mut done = BTreeMap::new();
    for name in needed {
        if defs.contains_key(name) {
            let value = resolve_one(name, defs, &mut done, &mut Vec::new())?;
            secrets
                .values
                .insert(name.clone(), SecretString::from(value));
        }
    }
    Ok(secrets)
}

/// One definition's value: single-quoted as written; else `${NAME}` filled in from the other
/// definitions (else the environment), and a `$(command)` value run through `sh -c` with the
/// definitions it names (`$NAME` or `${NAME}`) in its environment, so `$(dhow secrets extract
/// KEY $SECRETS)` works as in Kamal without the secret in any argument list of dhow's.
fn resolve_one(
    name: &str,
    defs: &Defs,
    done: &mut BTreeMap<String, String>,
    stack: &mut Vec<String>,
) -> anyhow::Result<String> {
    if let Some(v) = done.get(name) {
        return Ok(v.clone());
    }
    let Some(def) = defs.get(name) else {
        return Ok(std::env::var(name).unwrap_or_default());
    };
    if stack.iter().any(|n| n == name) {
        return Err(fail(
            Kind::Config,
            format!(
                "{}: secret {name} refers to itself through {}",
                def.at,
                stack.join(" -> ")
            ),
        ));
    }
    let value = if def.quoting == Quoting::Single {
        def.raw.clone()
    } else {
        stack.push(name.to_string());
        let mut refs = BTreeMap::new();
        for other in referenced(&def.raw) {
            if other != name && defs.contains_key(&other) {
                let v = resolve_one(&other, defs, done, stack)?;
                refs.insert(other, v);
            }
        }
        stack.pop();
        expand(&def.raw, &refs)
            .map_err(|e| fail(Kind::Config, format!("{}: secret {name}: {e}", def.at)))?
    };
    done.insert(name.to_string(), value.clone());
    Ok(value)
}

/// The names `raw` refers to as `$NAME` or `${NAME}`.
fn referenced(raw: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
            names.insert(name);
        }
    }
    names
}

/// How long a secret's `$(command)` may run (a password manager's sign-in included).
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// `sh -c cmd` with `refs` in its environment, its output collected; killed past `limit`.
fn run_within(
    cmd: &str,
    refs: &BTreeMap<String, String>,
    limit: std::time::Duration,
) -> Result<std::process::Output, String> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(refs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run its command: {e}"))?;
    let stdout = super::child::reader(child.stdout.take(), u64::MAX);
    let stderr = super::child::reader(child.stderr.take(), u64::MAX);
    let status = match super::child::wait_within(&mut child, limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            return Err(format!(
                "its command ran longer than {}s and was stopped",
                limit.as_secs()
            ))
        }
        Err(e) => return Err(format!("waiting for its command: {e}")),
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// `$(command)` runs through `sh -c` with `refs` in its environment; otherwise `${VAR}` is
/// filled from `refs`, else the environment.
fn expand(raw: &str, refs: &BTreeMap<String, String>) -> Result<String, String> {
    if let Some(cmd) = raw.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        let out = run_within(cmd, refs, COMMAND_TIMEOUT)?;
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
    let lookup = |var: &str| refs.get(var).cloned().or_else(|| std::env::var(var).ok());
    super::interpolate::interpolate(raw, lookup).map_err(|m| match m {
        super::interpolate::Missing::Unterminated => "unterminated ${".to_string(),
        super::interpolate::Missing::Unknown(var) => {
            format!("{var} is neither a secret defined here nor a set environment variable")
        }
    })
}

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn a_command_that_hangs_is_stopped_at_its_limit() {
        let e = run_within(
            "sleep 30",
            &BTreeMap::new(),
            std::time::Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        let out = run_within("echo hi; echo oops >&2", &BTreeMap::new(), COMMAND_TIMEOUT).unwrap();
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"hi\n"[..], &b"oops\n"[..])
        );
    }
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

    fn resolved(text: &str, names: &[&str]) -> anyhow::Result<Secrets> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets"), text).unwrap();
        let defs = read(dir.path(), None)?;
        resolve(&defs, &names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn single_quoted_values_are_not_expanded() {
        let s = resolved(
            "A='$(echo no) ${HOME}'\nB=\"\\${HOME} \\$x\"\n",
            &["A", "B"],
        )
        .unwrap();
        assert_eq!(s.get("A").unwrap().expose_secret(), "$(echo no) ${HOME}");
        assert_eq!(s.get("B").unwrap().expose_secret(), "${HOME} $x");
    }

    #[test]
    fn later_values_refer_to_earlier_secrets_as_in_kamal() {
        let text = "SECRETS=$(printf '{\"K\":\"v 1\"}')\n\
                    K=$(printf %s \"$SECRETS\" | cut -d'\"' -f4)\n\
                    URL=\"db://${K}@h\"\n\
                    MULTI=\"l1\nl2\"\n";
        let s = resolved(text, &["K", "URL", "MULTI"]).unwrap();
        assert_eq!(s.get("K").unwrap().expose_secret(), "v 1");
        assert_eq!(s.get("URL").unwrap().expose_secret(), "db://v 1@h");
        assert_eq!(s.get("MULTI").unwrap().expose_secret(), "l1\nl2");
        assert!(s.get("SECRETS").is_none(), "only what is needed is kept");
    }

    #[test]
    fn a_cycle_is_an_error() {
        let err = resolved("A=${B}\nB=${A}\n", &["A"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("refers to itself"), "{err}");
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
