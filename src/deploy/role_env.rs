//! The env of a role's containers on one host, in layers: the app's `[env]`, the role's `env`
//! over it, then the `[env.tags.<tag>]` of each tag the host carries, in the host's order (as
//! Kamal merges `env.tags`). A variable a layer sets replaces that name from the layers below,
//! whether it was clear or secret there. Secret values come resolved from the loaded secrets.

use crate::config::schema::EnvConfig;
use crate::config::validate::secret_ref;
use crate::config::Loaded;
use secrecy::SecretString;
use std::collections::BTreeMap;

/// The env of one role on one host.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    /// The host's tags in this role, in the order written.
    pub tags: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secret_env: Vec<(String, SecretString)>,
    /// Each variable whose value a tag's env set: variable → tag.
    pub from_tags: BTreeMap<String, String>,
}

enum Value {
    Clear(String),
    Secret(SecretString),
}

/// Merge the layers for a role (its own `env`, if any) on a host carrying `tags`.
pub fn resolve(l: &Loaded, role: Option<&EnvConfig>, tags: &[String]) -> HostEnv {
    let app = l.config.env.as_ref();
    let base = app.map(|e| e.base());
    let mut layers: Vec<(Option<&str>, &EnvConfig)> = Vec::new();
    layers.extend(base.as_ref().map(|e| (None, e)));
    layers.extend(role.map(|e| (None, e)));
    for t in tags {
        if let Some(e) = app.and_then(|a| a.tags.get(t)) {
            layers.push((Some(t.as_str()), e));
        }
    }
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    let mut from_tags = BTreeMap::new();
    for (tag, env) in layers {
        let mut set = |name: &str, v: Value| {
            vars.insert(name.to_string(), v);
            match tag {
                Some(t) => from_tags.insert(name.to_string(), t.to_string()),
                None => from_tags.remove(name),
            };
        };
        for (k, v) in &env.clear {
            set(k, Value::Clear(v.0.clone()));
        }
        for s in &env.secret {
            let (name, from) = secret_ref(s);
            // Validation made sure every referenced secret is defined.
            if let Some(v) = l.secrets.get(from) {
                set(name, Value::Secret(v.clone()));
            }
        }
    }
    let mut out = HostEnv {
        tags: tags.to_vec(),
        from_tags,
        ..HostEnv::default()
    };
    for (k, v) in vars {
        match v {
            Value::Clear(v) => out.env.push((k, v)),
            Value::Secret(v) => out.secret_env.push((k, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn loaded(toml: &str, secrets: &str) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deploy.toml");
        std::fs::write(&file, toml).unwrap();
        std::fs::create_dir_all(dir.path().join(".dhow")).unwrap();
        std::fs::write(dir.path().join(".dhow/secrets"), secrets).unwrap();
        crate::config::load(&file, None, &dir.path().join(".dhow")).unwrap()
    }

    fn clear(e: &HostEnv) -> Vec<String> {
        e.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    fn secret(e: &HostEnv) -> Vec<String> {
        let s = e.secret_env.iter();
        s.map(|(k, v)| format!("{k}={}", v.expose_secret()))
            .collect()
    }

    const CONFIG: &str = r#"service = "app"
image = "org/app"
[servers.web]
hosts = ["h1", { host = "h2", tags = ["eu", "exp"] }, { host = "h3", tags = ["exp", "eu"] }]
env = { clear = { ROLE = "web", USER = "role" } }
[env]
clear = { USER = "app", DB_PASS = "clear-in-app", KEEP = 1 }
secret = ["TOKEN"]
[env.tags.eu]
clear = { REGION = "eu", USER = "eu" }
secret = ["DB_PASS:EU_DB_PASS"]
[env.tags.exp]
clear = { USER = "exp", FLAG = true }
"#;

    #[test]
    fn app_then_role_then_tags_in_the_hosts_order() {
        let l = loaded(CONFIG, "TOKEN=t\nEU_DB_PASS=eu-secret\n");
        let role = crate::config::select::tagged_roles(&l.config)[0].clone();
        let role_env = match &l.config.servers {
            Some(crate::config::schema::Servers::Roles(r)) => r["web"].env.clone(),
            _ => None,
        };
        let plain = resolve(&l, role_env.as_ref(), &role.1[0].tags);
        assert_eq!(
            clear(&plain),
            ["DB_PASS=clear-in-app", "KEEP=1", "ROLE=web", "USER=role"]
        );
        assert_eq!(secret(&plain), ["TOKEN=t"]);
        assert!(plain.from_tags.is_empty() && plain.tags.is_empty());

        let h2 = resolve(&l, role_env.as_ref(), &role.1[1].tags);
        // exp comes after eu on h2: its USER wins; eu's secret replaces the app's clear value.
        assert_eq!(
            clear(&h2),
            ["FLAG=true", "KEEP=1", "REGION=eu", "ROLE=web", "USER=exp"]
        );
        assert_eq!(secret(&h2), ["DB_PASS=eu-secret", "TOKEN=t"]);
        let from: Vec<String> = h2
            .from_tags
            .iter()
            .map(|(k, t)| format!("{k}<{t}"))
            .collect();
        assert_eq!(from, ["DB_PASS<eu", "FLAG<exp", "REGION<eu", "USER<exp"]);

        let h3 = resolve(&l, role_env.as_ref(), &role.1[2].tags);
        assert!(
            clear(&h3).contains(&"USER=eu".to_string()),
            "{:?}",
            clear(&h3)
        );
        assert_eq!(h3.tags, ["exp", "eu"]);
    }

    #[test]
    fn a_tag_without_env_is_a_label() {
        let l = loaded(
            "service = \"app\"\nimage = \"org/app\"\n\
             servers = [\"h1\", { host = \"h2\", tags = [\"rack-1\"] }]\n\
             [env]\nclear = { A = 1 }\n",
            "",
        );
        let e = resolve(&l, None, &["rack-1".to_string()]);
        assert_eq!(clear(&e), ["A=1"]);
        assert!(e.from_tags.is_empty());
    }
}
