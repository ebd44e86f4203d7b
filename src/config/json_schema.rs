//! The config's JSON Schema (`dhow config schema`): derived with schemars from the same serde
//! types that read the file (schema.rs), so the two cannot drift apart; the types with a
//! hand-written `Deserialize` get their schema here, saying what their parser accepts. Keys
//! Kamal has and dhow refuses are left out, so an editor flags them as it flags a typo.

use super::schema::{Config, RoleConfig, Servers};
use super::server_host::ServerHost;
use super::types::{Cmd, Dur, HostSpec, Limit, OneOrMany, PosDur, Scalar};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// The first line of a config/deploy.toml that `dhow init` (and `--from-kamal`) writes:
/// editors with TOML schema support read the schema from the file it names.
pub const SCHEMA_LINE: &str = "#:schema ./deploy.schema.json";

/// Where that line points, as `dhow init` writes it.
pub const SCHEMA_FILE: &str = "config/deploy.schema.json";

/// Write the schema to [`SCHEMA_FILE`] unless a file is there; whether it was written.
pub fn write_new() -> std::io::Result<bool> {
    let path = std::path::Path::new(SCHEMA_FILE);
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, document() + "\n")?;
    Ok(true)
}

/// The schema of config/deploy.toml (and its destination files), as pretty JSON.
pub fn document() -> String {
    let mut schema = schemars::schema_for!(Config);
    schema.insert(
        "title".into(),
        "dhow config (config/deploy.toml, config/deploy.<destination>.toml)".into(),
    );
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

macro_rules! schema {
    ($ty:ty, $name:literal, $body:expr) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                let f: fn(&mut SchemaGenerator) -> Schema = $body;
                f(generator)
            }
        }
    };
}

const DURATION: &str =
    "a duration: a number with a unit (\"500ms\", \"30s\", \"5m\", \"1h\") or whole seconds";

schema!(Dur, "Duration", |_| json_schema!({
    "type": ["string", "integer"], "minimum": 0, "description": DURATION,
}));
schema!(PosDur, "PositiveDuration", |_| json_schema!({
    "type": ["string", "integer"], "minimum": 1,
    "description": format!("{DURATION}; more than 0"),
}));
schema!(HostSpec, "Host", |_| json_schema!({
    "type": "string", "minLength": 1, "pattern": "^[^\\s]+$",
    "description": "a host as [user@]host[:port]",
}));
schema!(Limit, "Limit", |_| json_schema!({
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^[0-9]+%$"},
    ],
    "description": "a number of hosts, or a percentage of them like \"25%\"",
}));
schema!(Scalar, "Scalar", |_| json_schema!({
    "type": ["string", "number", "boolean"],
}));
schema!(Cmd, "Command", |_| json_schema!({
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    "description": "a command line (split as a shell would) or its words",
}));
schema!(OneOrMany, "OneOrMany", |g| json_schema!({
    "anyOf": [g.subschema_for::<Scalar>(), {"type": "array", "items": g.subschema_for::<Scalar>()}],
}));
schema!(Servers, "Servers", |g| json_schema!({
    "anyOf": [
        {"type": "array", "items": g.subschema_for::<ServerHost>()},
        {"type": "object", "additionalProperties": g.subschema_for::<RoleConfig>()},
    ],
    "description": "the hosts of the web role, or a table of roles",
}));
schema!(RoleConfig, "Role", |g| json_schema!({
    "anyOf": [
        {"type": "array", "items": g.subschema_for::<ServerHost>()},
        super::schema::role_table_schema(g),
    ],
}));

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_knows_every_section_and_refuses_unknown_keys() {
        let doc: serde_json::Value = serde_json::from_str(&super::document()).unwrap();
        let props = doc["properties"].as_object().unwrap();
        for key in [
            "service",
            "servers",
            "proxy",
            "registry",
            "builder",
            "accessories",
            "ssh",
        ] {
            assert!(props.contains_key(key), "{key}");
        }
        assert_eq!(doc["additionalProperties"], false);
        assert!(
            !props.contains_key("asset_path"),
            "refused keys are not offered"
        );
    }
}
