//! `${NAME}` substitution, shared by secrets files (names from the environment) and accessory
//! templates (names from the accessory's env). `$${` writes a literal `${`.

/// Why a text could not be filled in.
#[derive(Debug, PartialEq, Eq)]
pub enum Missing {
    /// A `${` without its `}`.
    Unterminated,
    /// A name `lookup` does not know.
    Unknown(String),
}

/// Replace every `${NAME}` in `text` with `lookup(NAME)`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Missing> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or(Missing::Unterminated)?;
        let name = &after[..end];
        out.push_str(&lookup(name).ok_or_else(|| Missing::Unknown(name.to_string()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escapes_and_errors() {
        let look = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(interpolate("x${A}y $${A} $5", look).unwrap(), "x1y ${A} $5");
        assert_eq!(interpolate("${B}", look), Err(Missing::Unknown("B".into())));
        assert_eq!(interpolate("tail ${", look), Err(Missing::Unterminated));
    }
}
