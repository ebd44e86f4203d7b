//! A host of a role as `servers` lists it: `"10.0.0.1"` (a [`HostSpec`]) or, to tag it like
//! Kamal's `{ "10.0.0.2": [eu] }`, `{ host = "10.0.0.2", tags = ["eu"] }`. Tags select the
//! `[env.tags.<tag>]` env merged over the app's and the role's on that host (see
//! `deploy::role_env`); a tag no `env.tags` entry names is only a label.

use super::types::HostSpec;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// One host of a role, with its tags in the order written (later tags win when their env
/// sets the same variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHost {
    pub host: HostSpec,
    pub tags: Vec<String>,
}

impl ServerHost {
    pub fn plain(host: HostSpec) -> ServerHost {
        ServerHost {
            host,
            tags: Vec::new(),
        }
    }
}

/// The table form; only `host` and `tags`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HostTable {
    host: HostSpec,
    /// Tags of this host: each selects `[env.tags.<tag>]` if there is one.
    #[serde(default)]
    tags: Vec<String>,
}

impl<'de> Deserialize<'de> for ServerHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerHost;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a host as \"[user@]host[:port]\", or a table { host = \"...\", tags = [...] }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServerHost, E> {
                HostSpec::parse(v).map(ServerHost::plain).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ServerHost, A::Error> {
                let t = HostTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ServerHost {
                    host: t.host,
                    tags: t.tags,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ServerHost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.tags.is_empty() {
            return self.host.serialize(s);
        }
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("host", &self.host)?;
        m.serialize_entry("tags", &self.tags)?;
        m.end()
    }
}

impl JsonSchema for ServerHost {
    fn schema_name() -> Cow<'static, str> {
        "ServerHost".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [g.subschema_for::<HostSpec>(), g.subschema_for::<HostTable>()],
            "description": "a host, or a table of a host and its tags",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct T {
        hosts: Vec<ServerHost>,
    }

    #[test]
    fn strings_and_tables_read_and_write_back() {
        let t: T = toml::from_str(
            r#"hosts = ["10.0.0.1", { host = "deploy@10.0.0.2:2222", tags = ["eu", "exp"] }, { host = "h3" }]"#,
        )
        .unwrap();
        assert_eq!(
            t.hosts[0],
            ServerHost::plain(HostSpec::parse("10.0.0.1").unwrap())
        );
        assert_eq!(t.hosts[1].host.to_string(), "deploy@10.0.0.2:2222");
        assert_eq!(t.hosts[1].tags, ["eu", "exp"]);
        assert!(t.hosts[2].tags.is_empty());
        let back = toml::to_string(&t).unwrap();
        assert_eq!(
            back,
            "hosts = [\"10.0.0.1\", { host = \"deploy@10.0.0.2:2222\", tags = [\"eu\", \"exp\"] }, \"h3\"]\n"
        );
    }

    #[test]
    fn the_table_takes_host_and_tags_only() {
        for (bad, says) in [
            (
                r#"hosts = [{ host = "h", tag = ["eu"] }]"#,
                "unknown field `tag`",
            ),
            (r#"hosts = [{ tags = ["eu"] }]"#, "missing field `host`"),
            (r#"hosts = [{ host = "a b" }]"#, "bad host"),
            (r#"hosts = [{ host = "h", tags = "eu" }]"#, "sequence"),
            ("hosts = [1]", "a host as"),
        ] {
            let e = toml::from_str::<T>(bad).err().unwrap().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
