//! `dhow init --from-kamal` against the real binary in a temp dir (no Docker, no host): the
//! fixtures in tests/fixtures/kamal/ (Kamal's own documented examples) convert, the result
//! passes `dhow config`, keys land where dhow has them, unsupported and unknown keys are
//! warned about (and commented in the TOML), host tags and env tags carry over, destinations
//! convert, secrets and hooks are copied, nothing is overwritten, ERB is refused with its
//! line, and the config names the JSON Schema written beside it as `dhow init`'s does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A temp project holding a copy of one fixture.
fn fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kamal")
        .join(name);
    copy_dir(&src, dir.path());
    dir
}

/// A temp project with only this config/deploy.yml.
fn project(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/deploy.yml"), yaml).unwrap();
    dir
}

fn dhow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dhow"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("KAMAL_REGISTRY_PASSWORD", "from-the-environment")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Convert; must succeed. Returns the output text.
fn convert(dir: &Path) -> String {
    let out = dhow(dir, &["init", "--from-kamal"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    t
}

fn toml_at(dir: &Path, file: &str) -> (toml::Table, String) {
    let raw = std::fs::read_to_string(dir.join(file)).unwrap();
    (raw.parse().unwrap(), raw)
}

/// Define secrets the config references, then `dhow config` (with a destination) must pass.
fn config_passes(dir: &Path, secrets: &str, destination: Option<&str>) {
    let path = dir.join(".dhow/secrets");
    let mut current = std::fs::read_to_string(&path).unwrap_or_default();
    current.push_str(secrets);
    std::fs::create_dir_all(dir.join(".dhow")).unwrap();
    std::fs::write(&path, current).unwrap();
    let mut args = vec!["config"];
    if let Some(d) = destination {
        args.extend(["-d", d]);
    }
    let out = dhow(dir, &args);
    assert!(out.status.success(), "dhow config: {}", text(&out));
}

#[test]
fn kamal_init_template_converts_with_its_destination_secrets_and_hooks() {
    let dir = fixture("template");
    let d = dir.path();
    let t = convert(d);
    let (c, raw) = toml_at(d, "config/deploy.toml");
    assert_eq!(c["service"].as_str(), Some("my-app"));
    assert_eq!(c["image"].as_str(), Some("my-user/my-app"));
    let web = &c["servers"]["web"];
    assert_eq!(web["hosts"][0].as_str(), Some("192.168.0.1"));
    assert_eq!(
        web["options"]["volume"][0].as_str(),
        Some("app_storage:/app/storage")
    );
    assert_eq!(c["servers"]["job"]["cmd"].as_str(), Some("bin/jobs"));
    assert_eq!(c["proxy"]["ssl"].as_bool(), Some(true));
    assert_eq!(c["proxy"]["host"].as_str(), Some("app.example.com"));
    assert_eq!(c["proxy"]["app_port"].as_integer(), Some(3000));
    assert_eq!(c["registry"]["server"].as_str(), Some("docker.io"));
    assert_eq!(c["registry"]["username"].as_str(), Some("my-user"));
    assert_eq!(
        c["registry"]["password"].as_str(),
        Some("KAMAL_REGISTRY_PASSWORD")
    );
    assert_eq!(c["builder"]["arch"].as_str(), Some("amd64"));
    assert_eq!(c["env"]["clear"]["DB_HOST"].as_str(), Some("192.168.0.2"));
    assert_eq!(c["env"]["secret"][0].as_str(), Some("RAILS_MASTER_KEY"));
    assert_eq!(c["ssh"]["user"].as_str(), Some("app"));
    assert_eq!(c["boot"]["limit"].as_integer(), Some(10));
    assert_eq!(c["boot"]["wait"].as_str(), Some("2s"));
    assert_eq!(
        c["aliases"]["shell"].as_str(),
        Some("app exec --interactive --reuse \"bash\"")
    );
    let db = &c["accessories"]["db"];
    assert_eq!(db["port"].as_str(), Some("3306"));
    assert_eq!(
        db["files"]["config/mysql/production.cnf"].as_str(),
        Some("/etc/mysql/my.cnf")
    );
    assert_eq!(db["directories"][0].as_str(), Some("data:/var/lib/mysql"));
    assert_eq!(db["env"]["secret"][0].as_str(), Some("MYSQL_ROOT_PASSWORD"));
    // Unsupported: warned with its path and commented in the TOML.
    assert!(
        t.contains("warning: config/deploy.yml: asset_path: not supported by dhow, dropped"),
        "{t}"
    );
    assert!(
        raw.contains("# kamal: asset_path: not supported by dhow, dropped"),
        "{raw}"
    );
    assert!(
        t.contains("secret MYSQL_ROOT_PASSWORD is referenced but defined in no"),
        "{t}"
    );

    // The destination file.
    let (s, _) = toml_at(d, "config/deploy.staging.toml");
    assert_eq!(
        s["servers"]["web"]["hosts"][0].as_str(),
        Some("192.168.1.1")
    );
    assert_eq!(s["proxy"]["host"].as_str(), Some("staging.example.com"));
    assert_eq!(s["proxy"]["response_timeout"].as_str(), Some("10s"));
    assert!(t.contains("checked config/deploy.staging.toml"), "{t}");

    // Secrets: copied with `kamal secrets` turned into `dhow secrets`, mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let staging = std::fs::read_to_string(d.join(".dhow/secrets.staging")).unwrap();
    assert!(staging.contains("$(dhow secrets extract KAMAL_REGISTRY_PASSWORD $SECRETS)"));
    assert!(!staging.contains("kamal secrets"));
    let mode = std::fs::metadata(d.join(".dhow/secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(d.join(".gitignore"))
        .unwrap()
        .contains(".dhow/secrets*"));

    // Hooks: dhow's names copied (variables renamed, executable), others warned, samples skipped.
    let hook = std::fs::read_to_string(d.join("hooks/post-deploy")).unwrap();
    assert!(
        hook.contains("echo \"$DHOW_PERFORMER deployed $DHOW_VERSION"),
        "{hook}"
    );
    let mode = std::fs::metadata(d.join("hooks/post-deploy"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
    assert!(!d.join("hooks/pre-app-remove").exists());
    assert!(t.contains("dhow has no hook named pre-app-remove"), "{t}");
    assert!(!d.join("hooks/pre-build").exists());
    assert!(
        t.contains("skipped .kamal/hooks/pre-build.sample: a sample"),
        "{t}"
    );

    std::fs::write(d.join("config/master.key"), "abc\n").unwrap();
    config_passes(d, "MYSQL_ROOT_PASSWORD=x\n", None);
    // The staging secrets call `dhow secrets`, which this test does not stand in for.
    std::fs::remove_file(d.join(".dhow/secrets.staging")).unwrap();
    config_passes(d, "", Some("staging"));
}

#[test]
fn documented_examples_map_and_every_unsupported_key_is_warned() {
    let dir = fixture("documented");
    let d = dir.path();
    let t = convert(d);
    let (c, raw) = toml_at(d, "config/deploy.toml");
    assert_eq!(c["retain_containers"].as_integer(), Some(3));
    assert_eq!(c["deploy_timeout"].as_str(), Some("10s"));
    assert_eq!(c["drain_timeout"].as_str(), Some("10s"));
    assert_eq!(c["primary_role"].as_str(), Some("web"));
    let web = &c["servers"]["web"];
    assert_eq!(web["hosts"][0].as_str(), Some("172.1.0.1"));
    assert_eq!(web["hosts"][1]["host"].as_str(), Some("172.1.0.2"));
    assert_eq!(web["hosts"][1]["tags"][0].as_str(), Some("experiment1"));
    assert_eq!(web["labels"]["my-label"].as_str(), Some("my-value"));
    let workers = &c["servers"]["workers"];
    assert_eq!(workers["labels"]["my-label"].as_str(), Some("workers"));
    assert_eq!(workers["options"]["memory"].as_str(), Some("2g"));
    assert_eq!(workers["options"]["cpus"].as_integer(), Some(4));
    assert_eq!(
        workers["options"]["volume"][0].as_str(),
        Some("/path/on/host:/path/in/container:ro")
    );
    assert_eq!(workers["proxy"].as_bool(), Some(false));
    assert_eq!(workers["env"]["clear"]["QUEUES"].as_str(), Some("default"));
    let proxy = &c["proxy"];
    assert_eq!(proxy["hosts"][1].as_str(), Some("bar.example.com"));
    assert_eq!(proxy["response_timeout"].as_str(), Some("10s"));
    assert_eq!(proxy["healthcheck"]["interval"].as_str(), Some("3s"));
    assert_eq!(proxy["healthcheck"]["path"].as_str(), Some("/health"));
    assert_eq!(
        proxy["buffering"]["max_request_body"].as_integer(),
        Some(40_000_000)
    );
    assert_eq!(proxy["buffering"]["memory"].as_integer(), Some(2_000_000));
    let ssh = &c["ssh"];
    assert_eq!(ssh["port"].as_integer(), Some(2222));
    assert_eq!(ssh["proxy"].as_str(), Some("root@proxy-host"));
    assert_eq!(ssh["use_agent"].as_bool(), Some(true));
    assert_eq!(ssh["keys"][0].as_str(), Some("~/.ssh/id.pem"));
    let b = &c["builder"];
    assert_eq!(b["context_source"].as_str(), Some("working-tree"));
    assert_eq!(b["dockerfile"].as_str(), Some("Dockerfile.production"));
    assert_eq!(b["target"].as_str(), Some("production"));
    assert_eq!(b["args"]["ENVIRONMENT"].as_str(), Some("production"));
    assert_eq!(b["secrets"][1].as_str(), Some("SECRET2"));
    assert_eq!(c["boot"]["limit"].as_str(), Some("25%"));
    assert_eq!(
        c["aliases"]["console"].as_str(),
        Some("app exec -r console -i \"rails console\"")
    );
    for w in [
        "builder.cache: not supported by dhow, dropped",
        "builder.remote: not supported by dhow, dropped",
        "proxy.logging: not supported by dhow, dropped",
        "proxy.ssl_redirect: not supported by dhow, dropped",
        "servers.workers.logging: not supported by dhow, dropped",
        "env.tags.monitoring: no host carries tag monitoring (Kamal ignores its env, dhow refuses env for a tag no host has), dropped",
        "readiness_delay: not supported by dhow, dropped",
        "ssh.proxy_command: not supported by dhow, dropped",
        "ssh.key_data: private keys written in the config are not copied",
    ] {
        assert!(
            t.contains(&format!("warning: config/deploy.yml: {w}")),
            "{w}\n{t}"
        );
        assert!(raw.contains(&format!("# kamal: {w}")), "{w}\n{raw}");
    }
    // Comments sit above the table they concern.
    let cache = raw.find("# kamal: builder.cache").unwrap();
    let next_header = raw[cache..].lines().find(|l| l.starts_with('[')).unwrap();
    assert_eq!(next_header, "[builder]");
    // A private key written in the YAML reaches neither the output nor the TOML.
    assert!(!t.contains("BEGIN OPENSSH") && !raw.contains("BEGIN OPENSSH"));
    config_passes(
        d,
        "MYSQL_PASSWORD=x\nKAMAL_REGISTRY_PASSWORD=y\nSECRET1=a\nSECRET2=b\n",
        None,
    );
}

#[test]
fn host_tags_and_env_tags_carry_over_with_the_destinations() {
    let dir = fixture("tags");
    let d = dir.path();
    let t = convert(d);
    let (c, _) = toml_at(d, "config/deploy.toml");
    let web = &c["servers"]["web"]["hosts"];
    assert_eq!(web[0].as_str(), Some("172.0.0.1"));
    assert_eq!(web[1]["host"].as_str(), Some("172.0.0.2"));
    assert_eq!(web[1]["tags"][0].as_str(), Some("monitoring"));
    assert_eq!(web[2]["tags"][0].as_str(), Some("experiments"));
    assert_eq!(web[2]["tags"][1].as_str(), Some("replica"));
    let workers = &c["servers"]["workers"]["hosts"];
    assert_eq!(workers[0]["tags"][0].as_str(), Some("replica"));
    let tags = &c["env"]["tags"];
    assert_eq!(
        tags["monitoring"]["clear"]["MYSQL_USER"].as_str(),
        Some("monitoring")
    );
    assert_eq!(
        tags["replica"]["clear"]["MYSQL_USER"].as_str(),
        Some("readonly")
    );
    assert_eq!(
        tags["replica"]["secret"][0].as_str(),
        Some("READONLY_PASSWORD")
    );
    assert_eq!(
        c["accessories"]["mysql"]["tags"][0].as_str(),
        Some("replica")
    );
    let (s, _) = toml_at(d, "config/deploy.staging.toml");
    assert_eq!(
        s["servers"]["web"]["hosts"][1]["tags"][0].as_str(),
        Some("canary")
    );
    assert_eq!(
        s["env"]["tags"]["canary"]["clear"]["CANARY"].as_bool(),
        Some(true)
    );
    // Nothing about tags is reported as lost.
    assert!(!t.contains("not supported by dhow"), "{t}");
    assert!(
        t.contains("checked config/deploy.staging.toml: it loads"),
        "{t}"
    );
    config_passes(d, "MYSQL_PASSWORD=x\nREADONLY_PASSWORD=y\n", None);
    config_passes(d, "", Some("staging"));
    // The dry run shows each host's own env.
    let out = dhow(d, &["deploy", "--dry-run", "--version", "v1"]);
    let plan = text(&out);
    assert!(out.status.success(), "{plan}");
    let host = |h: &str| {
        let start = plan
            .find(&format!("\n{h}:\n"))
            .unwrap_or_else(|| panic!("{h}\n{plan}"));
        let rest = &plan[start + h.len() + 3..];
        rest[..rest.find("\n1").unwrap_or(rest.len())].to_string()
    };
    assert!(
        host("172.0.0.1").contains("env: MYSQL_USER, MYSQL_PASSWORD (secret)\n"),
        "{plan}"
    );
    assert!(
        host("172.0.0.2").contains(
            "tags: monitoring\n    env: MYSQL_USER (tag monitoring), MYSQL_PASSWORD (secret)\n"
        ),
        "{plan}"
    );
    assert!(host("172.0.0.3").contains("tags: experiments, replica\n    env: MYSQL_USER (tag replica), MYSQL_PASSWORD (secret), READONLY_PASSWORD (secret, tag replica)\n"), "{plan}");
}

#[test]
fn env_tags_outside_the_top_level_env_are_dropped_as_kamal_refuses_them() {
    let dir = project(
        "service: app\nimage: org/app\nservers:\n  web:\n    hosts:\n      - 192.0.2.1: eu\n    \
         env:\n      clear:\n        A: 1\n      tags:\n        eu:\n          B: 2\n",
    );
    let t = convert(dir.path());
    assert!(
        t.contains("servers.web.env.tags: env tags belong in the top-level env"),
        "{t}"
    );
    let (c, _) = toml_at(dir.path(), "config/deploy.toml");
    assert_eq!(
        c["servers"]["web"]["env"]["clear"]["A"].as_integer(),
        Some(1)
    );
    assert!(c["servers"]["web"]["env"].get("tags").is_none());
}

#[test]
fn documented_accessories_convert_files_directories_and_roles() {
    let dir = fixture("accessories");
    let d = dir.path();
    let t = convert(d);
    let (c, _) = toml_at(d, "config/deploy.toml");
    assert_eq!(c["servers"][0].as_str(), Some("172.0.0.1"));
    assert_eq!(c["servers"][2]["host"].as_str(), Some("172.0.0.3"));
    let tags = c["servers"][2]["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[1].as_str(), Some("three"));
    assert!(c.get("registry").is_none());
    assert!(
        t.contains("registry.username: read from the secret DOCKER_REGISTRY_TOKEN"),
        "{t}"
    );
    let m = &c["accessories"]["mysql"];
    assert_eq!(m["port"].as_str(), Some("127.0.0.1:3306:3306"));
    assert_eq!(m["cmd"].as_str(), Some("bin/mysqld"));
    assert_eq!(m["network"].as_str(), Some("custom"));
    assert_eq!(m["options"]["cpus"].as_integer(), Some(2));
    assert_eq!(
        m["files"]["config/myoptions.cnf"].as_str(),
        Some("/etc/mysql/myoptions.cnf")
    );
    assert_eq!(
        m["directories"][1].as_str(),
        Some("mysql-data:/var/lib/mysql")
    );
    assert_eq!(
        m["volumes"][0].as_str(),
        Some("/path/to/mysql-logs:/var/log/mysql")
    );
    assert_eq!(
        m["env"]["secret"][0].as_str(),
        Some("DB_PASSWORD:MAIN_DB_PASSWORD")
    );
    let r = &c["accessories"]["replica"];
    assert_eq!(r["hosts"][1].as_str(), Some("mysql-db2"));
    assert_eq!(
        r["files"]["config/secret.key"]["path"].as_str(),
        Some("/etc/mysql/secret.key")
    );
    assert_eq!(
        r["files"]["config/secret.key"]["mode"].as_str(),
        Some("0600")
    );
    assert_eq!(
        c["accessories"]["web_cache"]["roles"][0].as_str(),
        Some("web")
    );
    for w in [
        "accessories.mysql.service: not supported by dhow, dropped",
        "accessories.mysql.options.restart: this docker run option is not supported",
        "accessories.mysql.files[0]: config/my.cnf.erb is an ERB template",
        "accessories.mysql.files[1]: mount option `ro` is not supported",
        "accessories.replica.tags: no host carries tag writer (dhow refuses a tag no host has), dropped",
        "accessories.replica.tags: no host carries tag reader",
        "env.tags.secondary_db: no host carries tag secondary_db",
        "accessories.replica.files[0]: owner `mysql:mysql`: dhow takes a numeric UID[:GID]",
    ] {
        assert!(t.contains(w), "{w}\n{t}");
    }
    config_passes(d, "MAIN_DB_PASSWORD=x\n", None);
}

#[test]
fn unknown_keys_are_warned_and_a_path_can_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("kamal")).unwrap();
    std::fs::write(
        d.join("kamal/app.yml"),
        "service: app\nimage: org/app\nservers: [192.0.2.1]\nbuidler:\n  arch: amd64\n\
         proxy:\n  hots: a.example.com\nx-shared: &shared\n  a: 1\n",
    )
    .unwrap();
    let out = dhow(d, &["init", "--from-kamal", "kamal/app.yml"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("warning: kamal/app.yml: buidler: unknown key"),
        "{t}"
    );
    assert!(
        t.contains("warning: kamal/app.yml: proxy.hots: unknown key"),
        "{t}"
    );
    assert!(!t.contains("warning: kamal/app.yml: x-shared"), "{t}");
    let (c, raw) = toml_at(d, "config/deploy.toml");
    assert_eq!(c["servers"][0].as_str(), Some("192.0.2.1"));
    assert!(raw.contains("# kamal: buidler: unknown key"), "{raw}");
    config_passes(d, "", None);
}

#[test]
fn existing_files_are_not_overwritten() {
    let dir = fixture("template");
    let d = dir.path();
    let mine = "service = \"mine\"\nimage = \"org/mine\"\nservers = [\"192.0.2.9\"]\n";
    std::fs::write(d.join("config/deploy.toml"), mine).unwrap();
    std::fs::create_dir_all(d.join(".dhow")).unwrap();
    std::fs::write(d.join(".dhow/secrets"), "MINE=1\n").unwrap();
    let t = convert(d);
    assert!(
        t.contains("skipped config/deploy.toml: it exists (not overwritten)"),
        "{t}"
    );
    assert!(t.contains("skipped .dhow/secrets: it exists"), "{t}");
    assert!(t.contains("wrote config/deploy.staging.toml"), "{t}");
    assert_eq!(
        std::fs::read_to_string(d.join("config/deploy.toml")).unwrap(),
        mine
    );
    assert_eq!(
        std::fs::read_to_string(d.join(".dhow/secrets")).unwrap(),
        "MINE=1\n"
    );
}

#[test]
fn erb_is_refused_with_its_line_and_nothing_is_written() {
    let dir = project("service: app\nimage: <%= ENV[\"IMAGE\"] %>\nservers: [192.0.2.1]\n");
    let d = dir.path();
    std::fs::write(
        d.join("config/deploy.staging.yml"),
        "servers:\n  - <%= `hostname` %>\n",
    )
    .unwrap();
    let out = dhow(d, &["init", "--from-kamal"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("config/deploy.yml:2: `<%= ENV[\"IMAGE\"] %>` reads an environment variable"),
        "{t}"
    );
    assert!(!d.join("config/deploy.toml").exists());
    assert!(!d.join("config/deploy.staging.toml").exists());

    let dir = project("service: app\nimage: org/app\nservers: [192.0.2.1]\n");
    std::fs::write(
        dir.path().join("config/deploy.staging.yml"),
        "servers:\n  - <%= `hostname` %>\n",
    )
    .unwrap();
    let out = dhow(dir.path(), &["init", "--from-kamal"]);
    let t = text(&out);
    assert!(!out.status.success());
    assert!(
        t.contains("config/deploy.staging.yml:2: `<%= `hostname` %>` is ERB"),
        "{t}"
    );
    assert!(
        !dir.path().join("config/deploy.toml").exists(),
        "nothing written when any file has ERB"
    );
}

#[test]
fn a_result_dhow_refuses_fails_loudly_with_the_file() {
    let dir = project("service: \"-bad-\"\nimage: org/app\nservers: [192.0.2.1]\n");
    let out = dhow(dir.path(), &["init", "--from-kamal"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("config/deploy.toml does not load as a dhow config"),
        "{t}"
    );
}

#[test]
fn the_converted_config_names_the_schema_written_beside_it_as_init_does() {
    let dir = fixture("template");
    let d = dir.path();
    let t = convert(d);
    let (_, raw) = toml_at(d, "config/deploy.toml");
    assert!(raw.starts_with("#:schema ./deploy.schema.json\n"), "{raw}");
    assert!(t.contains("wrote config/deploy.schema.json"), "{t}");
    // The schema on disk is `dhow config schema`'s, and the converted config passes it.
    let written = std::fs::read_to_string(d.join("config/deploy.schema.json")).unwrap();
    let printed = dhow(d, &["config", "schema"]);
    assert_eq!(written, String::from_utf8_lossy(&printed.stdout));
    let schema: serde_json::Value = serde_json::from_str(&written).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let config: toml::Value = toml::from_str(&raw).unwrap();
    let config = serde_json::to_value(config).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&config)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{raw}");
    // A destination file is partial: no schema line (its required keys are in the base).
    let (_, staging) = toml_at(d, "config/deploy.staging.toml");
    assert!(!staging.starts_with("#:schema"), "{staging}");

    // Beside a config that was there already (not overwritten), no schema is written.
    let dir = fixture("template");
    let d = dir.path();
    std::fs::write(
        d.join("config/deploy.toml"),
        "service = \"mine\"\nimage = \"org/mine\"\nservers = [\"192.0.2.9\"]\n",
    )
    .unwrap();
    let t = convert(d);
    assert!(!d.join("config/deploy.schema.json").exists(), "{t}");
}

#[test]
fn a_roles_own_proxy_route_becomes_its_route() {
    let d = project(
        "service: app\nimage: org/app\nservers:\n  web:\n    hosts: [192.0.2.1]\n  admin:\n    hosts: [192.0.2.1]\n    proxy:\n      host: admin.example.com\n      path_prefix: /panel\n      response_timeout: 5\nproxy:\n  host: example.com\n",
    );
    let out = dhow(d.path(), &["init", "--from-kamal"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("servers.admin.proxy.response_timeout: dhow takes this from [proxy]"),
        "{t}"
    );
    let (c, _) = toml_at(d.path(), "config/deploy.toml");
    let route = &c["servers"]["admin"]["proxy"];
    assert_eq!(route["host"].as_str(), Some("admin.example.com"));
    assert_eq!(route["path_prefix"].as_str(), Some("/panel"));
    assert_eq!(route["strip_path_prefix"].as_bool(), Some(true));
    config_passes(d.path(), "", None);
}
