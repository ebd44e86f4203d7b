//! `dhow secrets extract NAME JSON...`: the value of key NAME in a fetch's JSON object, or of
//! the key that ends with `/NAME` (as Kamal looks it up). The JSON may arrive split over
//! several arguments (an unquoted `$SECRETS` is split on whitespace): they are joined with
//! spaces first. Errors name keys, never values.

use crate::error::{fail, Kind};
use anyhow::Result;

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
