//! `dhow secrets extract NAME JSON...`: the value of key NAME in a fetch's JSON object, or of
//! the key that ends with `/NAME` (as Kamal looks it up). The JSON may arrive split over
//! several arguments (an unquoted `$SECRETS` is split on whitespace): they are joined with
//! spaces first. Errors name keys, never values. [`to_json`] writes a fetch's JSON so that such
//! splitting never happens: compact, and the characters an unquoted expansion would split
//! on or glob (space, `*`, `?`, `[`) written as `\uXXXX` escapes.

use crate::error::{fail, Kind};
use anyhow::Result;

/// `values` as one JSON object with no character a shell splits an unquoted `$SECRETS` on or
/// expands as a glob (so `$SECRETS` and `"$SECRETS"` pass the same text on).
pub fn to_json(values: &super::Values) -> Result<String> {
    let compact = serde_json::to_string(values)?;
    // Compact JSON has these characters only inside strings, where `\uXXXX` means the same.
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        match c {
            ' ' | '*' | '?' | '[' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The value of `name` in the JSON made of `parts` joined with spaces.
pub fn extract(name: &str, parts: &[String]) -> Result<String> {
    let joined = parts.join(" ");
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(joined.trim())
        .map_err(|e| {
            fail(
                Kind::Usage,
                format!(
                    "dhow secrets extract {name}: the secrets are not a JSON object (line {}, \
                     column {}); pass the output of `dhow secrets fetch`",
                    e.line(),
                    e.column()
                ),
            )
        })?;
    let suffix = format!("/{name}");
    let found = parsed.get(name).filter(|v| !v.is_null()).or_else(|| {
        parsed
            .iter()
            .find(|(k, v)| k.ends_with(&suffix) && !v.is_null())
            .map(|(_, v)| v)
    });
    match found {
        Some(v) => Ok(super::text(v)),
        None => Err(fail(
            Kind::Config,
            format!(
                "no secret {name} in the fetched secrets; their keys: {}",
                if parsed.is_empty() {
                    "(none)".to_string()
                } else {
                    parsed.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn fetch_json_has_nothing_a_shell_splits_or_globs() {
        let mut v = super::super::Values::new();
        v.insert("K ey".into(), "a  b\t*?[x]\n\"q\"\\".into());
        let json = to_json(&v).unwrap();
        assert!(!json.contains([' ', '\t', '\n', '*', '?', '[']), "{json}");
        assert_eq!(extract("K ey", &[json]).unwrap(), "a  b\t*?[x]\n\"q\"\\");
    }

    #[test]
    fn exact_key_then_suffix() {
        let json = r#"{"DB": "one two", "Vault/Item/REGISTRY_PASSWORD": "p w", "X/DB": "no"}"#;
        assert_eq!(extract("DB", &parts(json)).unwrap(), "one two");
        assert_eq!(extract("REGISTRY_PASSWORD", &parts(json)).unwrap(), "p w");
        assert_eq!(
            extract("Item/REGISTRY_PASSWORD", &[json.into()]).unwrap(),
            "p w"
        );
    }

    #[test]
    fn a_missing_key_lists_the_keys_not_the_values() {
        let err = extract("NOPE", &parts(r#"{"A/B": "s3cret"}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("NOPE") && err.contains("A/B"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = extract("A", &parts("not json s3cret"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
