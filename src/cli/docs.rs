//! `dhow docs [SECTION]`: the configuration reference (docs/config.md), built into the binary so
//! it matches the version installed. SECTION picks one `## ` heading (case-insensitive; its
//! first word is enough, e.g. `proxy`, `servers`); an unknown one lists the sections.

const REFERENCE: &str = include_str!("../../docs/config.md");

/// A `## ` heading's text, lowercased, without the backticks and brackets of `[proxy]`.
fn key(heading: &str) -> String {
    heading
        .chars()
        .filter(|c| !matches!(c, '`' | '[' | ']'))
        .collect::<String>()
        .trim()
        .to_lowercase()
}

/// The `## ` sections: (heading, text from the heading up to the next one).
fn sections(doc: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    let mut fence = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            fence = !fence;
        }
        match line.strip_prefix("## ") {
            Some(heading) if !fence => out.push((heading, format!("{line}\n"))),
            _ => {
                if let Some((_, text)) = out.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    out
}

/// The section asked for, or the usage error listing the ones there are.
fn pick(doc: &str, want: &str) -> Result<String, String> {
    let want = key(want);
    let all = sections(doc);
    let found = all.iter().find(|(h, _)| {
        let k = key(h);
        k == want || k.split_whitespace().next() == Some(want.as_str())
    });
    match found {
        Some((_, text)) => Ok(text.clone()),
        None => {
            let names: Vec<String> = all.iter().map(|(h, _)| format!("  {}", key(h))).collect();
            Err(format!(
                "no section {want:?} in the config reference; the sections are:\n{}",
                names.join("\n")
            ))
        }
    }
}

/// Print the reference or one section (with `--json` a `docs` object holding the text);
/// `Err` is a usage error (exit 2).
pub fn run(section: Option<&str>, out: &crate::output::Output) -> Result<(), String> {
    let text = match section {
        None => REFERENCE.to_string(),
        Some(s) => pick(REFERENCE, s)?,
    };
    let record = serde_json::json!({ "section": section, "text": text });
    out.data("docs", &record, || print!("{text}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_found_by_heading_or_first_word_and_stops_at_the_next() {
        let proxy = pick(REFERENCE, "proxy").unwrap();
        assert!(proxy.starts_with("## `[proxy]`"));
        assert!(!proxy.contains("\n## "));
        let servers = pick(REFERENCE, "Servers").unwrap();
        assert!(servers.starts_with("## Servers and roles"));
    }

    #[test]
    fn an_unknown_section_lists_the_sections() {
        let e = pick(REFERENCE, "nope").unwrap_err();
        assert!(e.contains("\"nope\""), "{e}");
        assert!(e.contains("  proxy\n"), "{e}");
        assert!(e.contains("  hooks"), "{e}");
    }
}
