//! The TOML being written: a `toml_edit` document, the warnings and notes gathered while
//! mapping, each also written as a `# kamal: ...` comment above the nearest table it concerns,
//! and the value conversions every section shares (scalars, strings, durations).

use super::yaml::Y;
use toml_edit::{value, Array, DocumentMut, Item, Table, Value};

/// A dhow config in the making.
#[derive(Default)]
pub struct Out {
    pub doc: DocumentMut,
    /// `path: problem` lines: keys dropped or changed in a way the user must look at.
    pub warnings: Vec<String>,
    /// `path: what was done` lines: conversions worth knowing, nothing lost.
    pub notes: Vec<String>,
    /// (table path, comment text) for the written file.
    comments: Vec<(Vec<String>, String)>,
    /// The tags hosts carry in any file of the project (`env.tags` of others are dropped).
    pub carried_tags: std::collections::BTreeSet<String>,
}

/// `a.b` of a path.
pub fn dotted(table: &[&str], key: &str) -> String {
    let base = table.join(".");
    match key {
        "" => base,
        k if k.starts_with('[') || base.is_empty() => format!("{base}{k}"),
        k => format!("{base}.{k}"),
    }
}

impl Out {
    /// A key dhow has no equivalent for: warned and commented, never written.
    pub fn unsupported(&mut self, table: &[&str], key: &str) {
        self.warn(table, key, "not supported by dhow, dropped");
    }

    /// A key that is not in Kamal's config either (a typo?).
    pub fn unknown(&mut self, table: &[&str], key: &str) {
        self.warn(
            table,
            key,
            "unknown key (not in Kamal's config either; a typo?), dropped",
        );
    }

    pub fn warn(&mut self, table: &[&str], key: &str, msg: &str) {
        let line = format!("{}: {msg}", dotted(table, key));
        self.comment(table, &line);
        self.warnings.push(line);
    }

    pub fn note(&mut self, table: &[&str], key: &str, msg: &str) {
        let line = format!("{}: {msg}", dotted(table, key));
        self.comment(table, &line);
        self.notes.push(line);
    }

    fn comment(&mut self, table: &[&str], line: &str) {
        self.comments.push((
            table.iter().map(|s| s.to_string()).collect(),
            format!("# kamal: {line}\n"),
        ));
    }

    /// The table at `path`, made (as a `[a.b]` table) when missing.
    pub fn table(&mut self, path: &[&str]) -> &mut Table {
        let mut t = self.doc.as_table_mut();
        for seg in path {
            let item = t.entry(seg).or_insert_with(|| {
                let mut n = Table::new();
                n.set_implicit(true);
                Item::Table(n)
            });
            if !item.is_table() {
                *item = Item::Table(Table::new());
            }
            t = match item.as_table_mut() {
                Some(t) => t,
                None => unreachable!("just made a table"),
            };
        }
        t
    }

    pub fn set(&mut self, path: &[&str], key: &str, v: impl Into<Value>) {
        let t = self.table(path);
        t.set_implicit(false);
        t.insert(key, value(v));
    }

    /// The file: a header, the root-level comments, then the document with each table's
    /// comments above its header (or above the nearest parent table that is written).
    pub fn render(mut self, header: &str) -> String {
        let mut top = String::new();
        for (path, text) in std::mem::take(&mut self.comments) {
            if let Some(t) = self.written_table(&path) {
                let prefix = t
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_string();
                let prefix = if prefix.is_empty() {
                    format!("\n{text}")
                } else {
                    format!("{prefix}{text}")
                };
                t.decor_mut().set_prefix(prefix);
            } else {
                top.push_str(&text);
            }
        }
        let mut s = header.to_string();
        if !top.is_empty() {
            s.push_str(&top);
        }
        s.push('\n');
        s.push_str(&self.doc.to_string());
        s
    }

    /// The deepest table on `path` that has a `[header]` of its own in the output.
    fn written_table(&mut self, path: &[String]) -> Option<&mut Table> {
        for n in (1..=path.len()).rev() {
            let mut t = self.doc.as_table();
            let mut ok = true;
            for seg in &path[..n] {
                match t.get(seg).and_then(Item::as_table) {
                    Some(next) => t = next,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && (!t.is_implicit() || t.is_empty()) {
                let mut m = self.doc.as_table_mut();
                for seg in &path[..n] {
                    m = m.get_mut(seg)?.as_table_mut()?;
                }
                m.set_implicit(false);
                return Some(m);
            }
        }
        None
    }
}

/// A YAML scalar as a TOML value (strings, integers, floats, booleans); lists and maps `None`.
pub fn scalar(y: &Y) -> Option<Value> {
    match y {
        Y::Str(s) => Some(s.as_str().into()),
        Y::Int(i) => Some((*i).into()),
        Y::Bool(b) => Some((*b).into()),
        Y::Float(f) => f
            .parse::<f64>()
            .ok()
            .map(Value::from)
            .or_else(|| Some(f.as_str().into())),
        _ => None,
    }
}

/// Text of a scalar (numbers and booleans written as Kamal would pass them on).
pub fn text(y: &Y) -> Option<String> {
    y.scalar()
}

/// A list of scalars as an array of strings; a lone scalar as a one-element array.
pub fn strings(y: &Y) -> Option<Array> {
    match y {
        Y::List(l) => {
            let mut a = Array::new();
            for v in l {
                a.push(text(v)?);
            }
            Some(a)
        }
        other => text(other).map(|s| {
            let mut a = Array::new();
            a.push(s);
            a
        }),
    }
}

/// Kamal's durations are whole seconds (`30`); dhow's are strings with a unit (`"30s"`).
pub fn seconds(y: &Y) -> Option<Value> {
    match y {
        Y::Int(i) if *i >= 0 => Some(format!("{i}s").into()),
        Y::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            Some(format!("{s}s").into())
        }
        Y::Float(f) => f
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .map(|v| format!("{}ms", (v * 1000.0).round() as u64).into()),
        _ => None,
    }
}

/// An integer, also from a string of digits (`port: "2222"`) or with Ruby's `_` separators
/// (`40_000_000`: an integer to Kamal's YAML 1.1 parser, a string to YAML 1.2).
pub fn integer(y: &Y) -> Option<i64> {
    match y {
        Y::Int(i) => Some(*i),
        Y::Str(s) => {
            let s = s.trim();
            let digits = s.starts_with(|c: char| c.is_ascii_digit()) && !s.ends_with('_');
            digits.then(|| s.replace('_', "").parse().ok()).flatten()
        }
        _ => None,
    }
}

/// A string-keyed table of scalars (labels, args, env clear values).
pub fn scalar_table(y: &Y) -> Option<toml_edit::InlineTable> {
    let mut t = toml_edit::InlineTable::new();
    for (k, v) in y.map()? {
        t.insert(k, scalar(v)?);
    }
    Some(t)
}
