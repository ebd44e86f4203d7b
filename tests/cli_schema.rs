//! `dhow config schema`: the JSON Schema a real validator (the jsonschema crate) checks config
//! files with. The config `dhow init` writes, this repository's own staging config and every
//! example in docs/config.md's tables are valid; a typo in a key, a key Kamal has and dhow
//! refuses, and a wrong type are not. `dhow init` writes the schema its `#:schema` line names.

use std::process::Command;

fn dhow(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dhow"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run dhow")
}

fn schema() -> jsonschema::Validator {
    let out = dhow(std::path::Path::new("."), &["config", "schema"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    jsonschema::validator_for(&doc).expect("a valid JSON Schema")
}

fn as_json(toml_text: &str) -> serde_json::Value {
    let v: toml::Value = toml::from_str(toml_text).expect("TOML");
    serde_json::to_value(v).unwrap()
}

fn errors(v: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
    v.iter_errors(&as_json(toml_text))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn configs_dhow_writes_and_uses_are_valid_and_typos_are_not() {
    let v = schema();
    let dir = tempfile::tempdir().unwrap();
    let out = dhow(dir.path(), &["init"]);
    assert!(out.status.success(), "{out:?}");
    let written = std::fs::read_to_string(dir.path().join("config/deploy.toml")).unwrap();
    assert!(written.starts_with("#:schema ./deploy.schema.json\n"));
    let on_disk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("config/deploy.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(jsonschema::validator_for(&on_disk).is_ok());
    assert_eq!(
        errors(&v, &written),
        Vec::<String>::new(),
        "the init template"
    );
    for f in ["config/deploy.toml", "config/deploy.staging.toml"] {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(errors(&v, &text), Vec::<String>::new(), "{f}");
    }

    let base = "service = \"app\"\nimage = \"org/app\"\nservers = [\"web-1\"]\n";
    let rich = format!(
        "{base}deploy_timeout = 30\ndrain_timeout = \"5s\"\n[boot]\nlimit = \"25%\"\n\
         [env.clear]\nPORT = 3000\nDEBUG = false\n[proxy]\nhost = \"a.test\"\n\
         [proxy.healthcheck]\npath = \"/up\"\ninterval = \"1s\"\n\
         [builder]\nargs = {{ A = 1 }}\n[accessories.db]\nimage = \"postgres:16\"\nhost = \"web-1\"\n"
    );
    assert_eq!(errors(&v, &rich), Vec::<String>::new());
    let roles = "service = \"app\"\nimage = \"org/app\"\n[servers]\nweb = [\"a\"]\n\
                 [servers.worker]\nhosts = [\"b\"]\ncmd = \"bin/jobs\"\nproxy = false\n";
    assert_eq!(errors(&v, roles), Vec::<String>::new());

    for (bad, what) in [
        (format!("{base}servrs = [\"x\"]\n"), "a typo"),
        (format!("{base}asset_path = \"/x\"\n"), "a key dhow refuses"),
        (
            format!("{base}[proxy]\napp_port = \"eighty\"\n"),
            "a wrong type",
        ),
        (
            format!("{base}[proxy]\nhealthcheck = {{ paht = \"/up\" }}\n"),
            "a nested typo",
        ),
        (
            format!("{base}[builder]\ncontext_source = \"head\"\n"),
            "an unknown choice",
        ),
    ] {
        assert!(
            !errors(&v, &bad).is_empty(),
            "{what} passed the schema:\n{bad}"
        );
    }
}

#[test]
fn host_tags_and_env_per_tag_are_in_the_schema() {
    let v = schema();
    let ok = "service = \"app\"\nimage = \"org/app\"\n\
              [servers.web]\nhosts = [\"10.0.0.1\", { host = \"deploy@10.0.0.2:2222\", tags = [\"eu\", \"exp\"] }, { host = \"10.0.0.3\" }]\n\
              [servers.jobs]\nhosts = [{ host = \"10.0.0.4\", tags = [\"eu\"] }]\n\
              [env]\nclear = { A = 1 }\n[env.tags.eu]\nclear = { REGION = \"eu\" }\nsecret = [\"DB:EU_DB\"]\n";
    assert_eq!(errors(&v, ok), Vec::<String>::new());
    let short = "servers = [\"a\", { host = \"b\", tags = [\"eu\"] }]\n";
    assert_eq!(errors(&v, short), Vec::<String>::new());
    for (bad, what) in [
        (
            "servers = [{ host = \"b\", tag = [\"eu\"] }]\n",
            "a typo in a host's table",
        ),
        (
            "servers = [{ tags = [\"eu\"] }]\n",
            "a host's table without host",
        ),
        (
            "servers = [{ host = \"b\", tags = \"eu\" }]\n",
            "tags that are no list",
        ),
        (
            "[servers.web]\nhosts = [{ host = \"b c\" }]\n",
            "a bad host in the table",
        ),
        (
            "[env.tags.eu]\nclaer = { A = 1 }\n",
            "a typo in a tag's env",
        ),
        (
            "[env.tags.eu.tags.x]\nclear = { A = 1 }\n",
            "tags inside a tag's env",
        ),
        (
            "[servers.web]\nhosts = [\"a\"]\nenv = { tags = { eu = { clear = { A = 1 } } } }\n",
            "tags in a role's env",
        ),
    ] {
        assert!(
            !errors(&v, bad).is_empty(),
            "{what} passed the schema:\n{bad}"
        );
    }
}

/// Every TOML example in docs/config.md passes the schema (the host tags examples among them).
#[test]
fn the_examples_in_the_config_reference_are_valid() {
    let v = schema();
    let doc = include_str!("../docs/config.md");
    let mut blocks = 0;
    for block in doc.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        assert_eq!(errors(&v, text), Vec::<String>::new(), "{text}");
        blocks += 1;
    }
    assert!(blocks > 5);
}
