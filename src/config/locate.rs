//! Where things are in a config file: byte offsets to `line:column`, the key path at an offset
//! (`servers.web.hosts[1]`), and the span of a key path, so every error can say
//! `file:line:column: key.path: problem`.

use std::ops::Range;
use toml_edit::{Item, Value};

/// A parsed file kept for locating keys.
pub struct Located {
    pub file: String,
    pub text: String,
    pub doc: Option<toml_edit::Document<String>>,
}

impl Located {
    pub fn new(file: &str, text: &str) -> Located {
        Located {
            file: file.to_string(),
            text: text.to_string(),
            doc: toml_edit::Document::parse(text.to_string()).ok(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// `file:line:col` of an offset.
    pub fn at(&self, offset: usize) -> String {
        let (l, c) = self.line_col(offset);
        format!("{}:{l}:{c}", self.file)
    }

    /// The key path whose key or value covers `offset`.
    pub fn path_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc.as_ref()?;
        let mut path = Vec::new();
        find_in_table(
            doc.as_table().iter().map(|(k, i)| {
                (
                    k,
                    doc.as_table().key(k).and_then(|k| k.span()),
                    Node::Item(i),
                )
            }),
            offset,
            &mut path,
        )
        .then(|| render(&path))
    }

    /// The span of a key path's value (or of its key when the value has none).
    pub fn span_of(&self, path: &[Seg]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item = Node::Item(doc.as_item());
        let mut key_span = None;
        for seg in path {
            let next = match (seg, item) {
                (Seg::Key(k), Node::Item(Item::Table(t))) => {
                    key_span = t.key(k).and_then(|k| k.span());
                    t.get(k).map(Node::Item)
                }
                (Seg::Key(k), Node::Item(Item::Value(Value::InlineTable(t))))
                | (Seg::Key(k), Node::Value(Value::InlineTable(t))) => {
                    key_span = t.key(k).and_then(|k| k.span());
                    t.get(k).map(Node::Value)
                }
                (Seg::Index(i), Node::Item(Item::Value(Value::Array(a))))
                | (Seg::Index(i), Node::Value(Value::Array(a))) => a.get(*i).map(Node::Value),
                _ => None,
            };
            item = next?;
        }
        item.span().or(key_span)
    }

    /// `file:line:col` of a key path, if the file has it.
    pub fn locate(&self, path: &[Seg]) -> Option<String> {
        self.span_of(path).map(|s| self.at(s.start))
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
}

impl Node<'_> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
        }
    }
}

fn contains(r: &Option<Range<usize>>, offset: usize) -> bool {
    r.as_ref()
        .is_some_and(|r| r.start <= offset && offset < r.end.max(r.start + 1))
}

fn find_in_table<'a>(
    entries: impl Iterator<Item = (&'a str, Option<Range<usize>>, Node<'a>)>,
    offset: usize,
    path: &mut Vec<Seg>,
) -> bool {
    for (k, key_span, node) in entries {
        path.push(Seg::Key(k.to_string()));
        if find_in(node, offset, path)
            || contains(&key_span, offset)
            || contains(&node.span(), offset)
        {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in(node: Node<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    match node {
        Node::Item(Item::Table(t)) => find_in_table(
            t.iter()
                .map(|(k, i)| (k, t.key(k).and_then(|k| k.span()), Node::Item(i))),
            offset,
            path,
        ),
        Node::Item(Item::ArrayOfTables(a)) => {
            for (i, t) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_in_table(
                    t.iter()
                        .map(|(k, i)| (k, t.key(k).and_then(|k| k.span()), Node::Item(i))),
                    offset,
                    path,
                ) {
                    return true;
                }
                path.pop();
            }
            false
        }
        Node::Item(Item::Value(v)) | Node::Value(v) => match v {
            Value::InlineTable(t) => find_in_table(
                t.iter()
                    .map(|(k, v)| (k, t.key(k).and_then(|k| k.span()), Node::Value(v))),
                offset,
                path,
            ),
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if find_in(Node::Value(v), offset, path) || contains(&v.span(), offset) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            _ => false,
        },
        Node::Item(Item::None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "service = \"x\"\n[servers.web]\nhosts = [\"a\", \"b\"]\n[env]\nclear = { A = 1 }\n";

    #[test]
    fn paths_and_positions() {
        let l = Located::new("f.toml", TEXT);
        let off = TEXT.find("\"b\"").unwrap();
        assert_eq!(l.path_at(off).as_deref(), Some("servers.web.hosts[1]"));
        assert_eq!(l.at(off), "f.toml:3:15");
        let path = [key("env"), key("clear"), key("A")];
        assert_eq!(l.locate(&path).as_deref(), Some("f.toml:5:15"));
        assert_eq!(l.locate(&[key("nope")]), None);
    }
}
