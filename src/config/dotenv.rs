//! The dotenv syntax of secrets files, as the dotenv tools Kamal users know read it:
//! `NAME=value` lines (`export ` allowed, `#` comments), single-quoted values literal,
//! double-quoted values with escapes (`\n`, `\t`, `\"`, `\\`, `\$`), quoted values may span
//! lines, an unquoted value ends at ` #`. Only parsing: what a value expands to is
//! `secrets.rs`'s business. Errors never show a line's content (it may hold a secret).

/// How a value was written, which decides whether it is expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// `'...'`: taken as written, no `$(...)` and no `${...}`.
    Single,
    /// `"..."`: escapes decoded, then expanded.
    Double,
    /// Bare: expanded.
    None,
}

/// One `NAME=value` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: String,
    pub quoting: Quoting,
    /// The 1-based line the definition starts on.
    pub line: usize,
}

/// Parse a whole file. The error is (line, message).
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, rest)) = line.split_once('=') else {
            return Err((
                start,
                "expected NAME=value (the line is not shown: it may hold a secret)".into(),
            ));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                start,
                format!("bad secret name `{name}`: use letters, digits and _"),
            ));
        }
        let rest = rest.trim_start();
        let (value, quoting) = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                // The quoted value, continued on the following lines until its closing quote.
                let mut body = rest[1..].to_string();
                let close = loop {
                    if let Some(at) = closing(&body, q) {
                        break at;
                    }
                    let Some(next) = lines.get(i) else {
                        let kind = if q == '\'' { "single" } else { "double" };
                        return Err((start, format!("{name}: unterminated {kind} quote")));
                    };
                    body.push('\n');
                    body.push_str(next);
                    i += 1;
                };
                let after = body[close + 1..].trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err((
                        start,
                        format!("{name}: unexpected text after the closing quote"),
                    ));
                }
                let inner = &body[..close];
                if q == '\'' {
                    (inner.to_string(), Quoting::Single)
                } else {
                    (unescape(inner), Quoting::Double)
                }
            }
            _ => (
                rest.split(" #").next().unwrap_or("").trim_end().to_string(),
                Quoting::None,
            ),
        };
        entries.push(Entry {
            name: name.to_string(),
            value,
            quoting,
            line: start,
        });
    }
    Ok(entries)
}

/// The byte index of the quote `q` closing `body` (a backslash escapes one in double quotes).
fn closing(body: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if q == '"' && escaped {
            escaped = false;
            continue;
        }
        if q == '"' && c == '\\' {
            escaped = true;
        } else if c == q {
            return Some(i);
        }
    }
    None
}

/// Decode a double-quoted value's escapes. `\${` becomes `$${` so that expansion writes a
/// literal `${` (the interpolator's escape, see `secrets.rs`); any other `\$` is a `$`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') if chars.peek() == Some(&'{') => out.push_str("$$"),
            Some('$') => out.push('$'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (String, Quoting) {
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 1, "{e:?}");
        (e[0].value.clone(), e[0].quoting)
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            one("A='$(rm -rf /) ${HOME} \\n'"),
            ("$(rm -rf /) ${HOME} \\n".to_string(), Quoting::Single)
        );
    }

    #[test]
    fn double_quotes_decode_escapes() {
        assert_eq!(
            one(r#"A="a\nb\t\"c\" \\ \$x \${y}" # note"#),
            ("a\nb\t\"c\" \\ $x $${y}".to_string(), Quoting::Double)
        );
    }

    #[test]
    fn unquoted_values_end_at_a_comment() {
        assert_eq!(
            one("export A = plain value # note"),
            ("plain value".to_string(), Quoting::None)
        );
        assert_eq!(one("A=a#b"), ("a#b".to_string(), Quoting::None));
    }

    #[test]
    fn quoted_values_span_lines() {
        let e = parse("KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nB='x\n\ny'\nC=1\n").unwrap();
        assert_eq!(e[0].value, "-----BEGIN-----\nabc\n-----END-----");
        assert_eq!((e[1].value.as_str(), e[1].line), ("x\n\ny", 4));
        assert_eq!((e[2].name.as_str(), e[2].line), ("C", 7));
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let err = parse("A=1\nB=\"hunter2\nC=2\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("unterminated double quote"), "{err:?}");
        assert!(!err.1.contains("hunter2"));
        let err = parse("A='x' hunter2\n").unwrap_err();
        assert!(err.1.contains("after the closing quote") && !err.1.contains("hunter2"));
        assert_eq!(parse("hunter2\n").unwrap_err().0, 1);
    }
}
