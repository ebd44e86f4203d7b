//! The manifests as one YAML stream: each object's JSON form (from the typed object's serde
//! impl) turned into YAML by yaml-rust2's emitter (which quotes strings that would read as
//! numbers or booleans), one `---` document per object, with `#` comment lines before them.

use yaml_rust2::yaml::{Hash, Yaml};
use yaml_rust2::YamlEmitter;

fn to_yaml(v: &serde_json::Value) -> Yaml {
    match v {
        serde_json::Value::Null => Yaml::Null,
        serde_json::Value::Bool(b) => Yaml::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        serde_json::Value::String(s) => Yaml::String(s.clone()),
        serde_json::Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        serde_json::Value::Object(m) => {
            let mut h = Hash::new();
            for (k, v) in m {
                h.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// One document: `---` and the object.
pub fn document(v: &serde_json::Value) -> anyhow::Result<String> {
    let mut s = String::new();
    YamlEmitter::new(&mut s)
        .dump(&to_yaml(v))
        .map_err(|e| anyhow::anyhow!("writing YAML: {e}"))?;
    s.push('\n');
    Ok(s)
}

/// Comment lines (`# ...`) for the head of a stream or file.
pub fn comments(lines: &[String]) -> String {
    lines.iter().map(|l| format!("# {l}\n")).collect()
}
