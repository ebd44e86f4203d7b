//! Reading a Kamal `deploy.yml`: ERB refused with the line it is on, the YAML parsed into a
//! small tree ([`Y`]) with keys as strings, anchors/aliases resolved by the parser and `<<`
//! merge keys applied (Kamal's YAML, Ruby's Psych, applies them; keys written beside a `<<`
//! win over merged ones).
//!
//! The parser is `yaml-rust2`: pure safe Rust, maintained, YAML 1.2. `serde_yaml` is archived,
//! `serde_yml` is unmaintained and unsound (RUSTSEC-2025-0068), and `serde_norway` /
//! `serde_yaml_ng` sit on `unsafe-libyaml`, unmaintained since 2024 (RUSTSEC-2024-0449).
//! `saphyr` is the same authors' newer API, still before 1.0; a tree is all we need here.

use crate::error::{fail, Kind};
use yaml_rust2::{Yaml, YamlLoader};

/// A YAML value, keys as strings and in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Null,
    Bool(bool),
    Int(i64),
    /// A float as written (`1.5`).
    Float(String),
    Str(String),
    List(Vec<Y>),
    Map(Vec<(String, Y)>),
}

impl Y {
    /// A scalar as text (what Kamal would interpolate into a command line).
    pub fn scalar(&self) -> Option<String> {
        match self {
            Y::Bool(b) => Some(b.to_string()),
            Y::Int(i) => Some(i.to_string()),
            Y::Float(f) => Some(f.clone()),
            Y::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Y::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn map(&self) -> Option<&[(String, Y)]> {
        match self {
            Y::Map(m) => Some(m),
            _ => None,
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Y::Null => "nothing",
            Y::Bool(_) => "a boolean",
            Y::Int(_) => "an integer",
            Y::Float(_) => "a number",
            Y::Str(_) => "a string",
            Y::List(_) => "a list",
            Y::Map(_) => "a mapping",
        }
    }
}

/// Refuse ERB (`<% ... %>`), naming each line that has it. dhow's config is plain TOML with no
/// interpolation, so even `ENV["X"]` has no equivalent there: the message says what to do.
pub fn refuse_erb(file: &str, text: &str) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let Some(start) = line.find("<%") else {
            continue;
        };
        let tag = line[start..]
            .find("%>")
            .map_or(&line[start..], |end| &line[start..start + end + 2]);
        let advice = if env_only(tag) {
            "reads an environment variable; dhow's config is not interpolated: write the value \
             in the YAML, or for env values list it under env.secret and define it in \
             .kamal/secrets as NAME=${NAME}"
        } else {
            "is ERB, which dhow does not evaluate: write its result in the YAML"
        };
        found.push(format!("{file}:{}: `{tag}` {advice}", i + 1));
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(fail(
        Kind::Config,
        format!(
            "{}\nnothing was converted; edit {file} and run `dhow init --from-kamal` again",
            found.join("\n")
        ),
    ))
}

/// Whether an ERB tag only reads one environment variable: `<%= ENV["X"] %>`,
/// `<%= ENV.fetch("X") %>` (quotes of either kind).
fn env_only(tag: &str) -> bool {
    let inner = tag
        .trim_start_matches("<%=")
        .trim_start_matches("<%")
        .trim_end_matches("%>")
        .trim();
    let name = inner
        .strip_prefix("ENV[")
        .and_then(|r| r.strip_suffix(']'))
        .or_else(|| {
            inner
                .strip_prefix("ENV.fetch(")
                .and_then(|r| r.strip_suffix(')'))
        });
    name.is_some_and(|n| {
        let n = n.trim();
        n.len() > 2
            && ((n.starts_with('"') && n.ends_with('"'))
                || (n.starts_with('\'') && n.ends_with('\'')))
    })
}

/// Parse one YAML document (an empty file is an empty mapping).
pub fn parse(file: &str, text: &str) -> anyhow::Result<Y> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| {
        fail(
            Kind::Config,
            format!(
                "{file}:{}:{}: invalid YAML: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            ),
        )
    })?;
    match docs.into_iter().next() {
        None => Ok(Y::Map(Vec::new())),
        Some(doc) => Ok(convert(doc)),
    }
}

fn convert(y: Yaml) -> Y {
    match y {
        Yaml::Real(r) => Y::Float(r),
        Yaml::Integer(i) => Y::Int(i),
        Yaml::String(s) => Y::Str(s),
        Yaml::Boolean(b) => Y::Bool(b),
        Yaml::Array(a) => Y::List(a.into_iter().map(convert).collect()),
        Yaml::Hash(h) => {
            let mut own: Vec<(String, Y)> = Vec::new();
            let mut merged: Vec<(String, Y)> = Vec::new();
            for (k, v) in h {
                let key = convert(k).scalar().unwrap_or_default();
                let v = convert(v);
                if key == "<<" {
                    let sources = match v {
                        Y::List(l) => l,
                        other => vec![other],
                    };
                    for s in sources {
                        if let Y::Map(m) = s {
                            for (mk, mv) in m {
                                if !merged.iter().any(|(k2, _)| *k2 == mk) {
                                    merged.push((mk, mv));
                                }
                            }
                        }
                    }
                } else {
                    own.push((key, v));
                }
            }
            for (k, v) in merged {
                if !own.iter().any(|(k2, _)| *k2 == k) {
                    own.push((k, v));
                }
            }
            Y::Map(own)
        }
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Y::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_anchors_and_scalars() {
        let y = parse(
            "t.yml",
            "base: &b\n  a: 1\n  b: two\nthis:\n  <<: *b\n  b: 3\nlist: [x, 2, true, 1.5]\n",
        )
        .unwrap();
        let m = y.map().unwrap();
        assert_eq!(m[0].0, "base");
        let this = m[1].1.map().unwrap();
        assert_eq!(this[0], ("b".to_string(), Y::Int(3)));
        assert_eq!(this[1], ("a".to_string(), Y::Int(1)));
        assert_eq!(
            m[2].1,
            Y::List(vec![
                Y::Str("x".into()),
                Y::Int(2),
                Y::Bool(true),
                Y::Float("1.5".into())
            ])
        );
    }

    #[test]
    fn erb_is_refused_with_its_line() {
        let err = refuse_erb(
            "d.yml",
            "service: a\n# <%= ignored in a comment %>\nimage: <%= ENV['IMG'] %>\nx: <%= `op` %>\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("d.yml:3: `<%= ENV['IMG'] %>` reads an environment variable"));
        assert!(err.contains("d.yml:4: `<%= `op` %>` is ERB"));
        assert!(!err.contains("d.yml:2"));
    }
}
