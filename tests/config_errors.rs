//! Bad configs: each must stop `dhow deploy` before anything runs, with exit code 3 and a
//! message naming the file, line and column and the key path. The hosts point at 127.0.0.1:1
//! and a pre-connect hook would leave a marker, so any attempt to go further would show.

use std::path::Path;
use std::process::Command;

const BASE: &str = "service = \"app\"\nimage = \"org/app\"\nservers = [\"127.0.0.1:1\"]\n";

struct Case {
    name: &'static str,
    config: String,
    staging: Option<String>,
    secrets: Option<&'static str>,
    args: &'static [&'static str],
    /// The file the error is in, and the token whose position it must report.
    file: &'static str,
    token: &'static str,
    /// Key path and words the message must contain.
    expect: &'static [&'static str],
}

fn case(
    name: &'static str,
    config: &str,
    token: &'static str,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        config: config.to_string(),
        staging: None,
        secrets: None,
        args: &[],
        file: "config/deploy.toml",
        token,
        expect,
    }
}

/// 1-based line:column of the first occurrence of `token` in `text` (at the start for "").
fn position(text: &str, token: &str) -> String {
    let off = text
        .find(token)
        .unwrap_or_else(|| panic!("token {token:?} not in the config"));
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = off - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

fn cases() -> Vec<Case> {
    let with = |extra: &str| format!("{BASE}{extra}");
    vec![
        case("unknown top-level key with a suggestion", &format!("{BASE}servrs = [\"x\"]\n"), "servrs", &["servrs", "unknown key", "did you mean `servers`"]),
        case("unknown nested key with a suggestion", &with("[proxy]\napp_prot = 3000\n"), "app_prot", &["proxy.app_prot", "did you mean `app_port`"]),
        case("wrong type", "service = 5\nimage = \"org/app\"\nservers = [\"127.0.0.1:1\"]\n", "5", &["service", "invalid type"]),
        case("bad duration", &with("deploy_timeout = \"30 parsecs\"\n"), "\"30 parsecs\"", &["deploy_timeout", "bad duration"]),
        case("bad duration unit in a nested table", &with("[proxy.healthcheck]\ninterval = \"5y\"\n"), "\"5y\"", &["proxy.healthcheck.interval", "unknown unit"]),
        case("docker_script_url without docker_install = \"script\"", &with("[setup]\ndocker_script_url = \"https://get.docker.com\"\n"), "\"https://get.docker.com\"", &["setup.docker_script_url", "docker_script_url needs docker_install = \"script\""]),
        case("accessory port", &with("[accessories.db]\nimage = \"pg\"\nhost = \"127.0.0.1:1\"\nport = \"5432:x\"\n"), "\"5432:x\"", &["accessories.db.port", "bad port"]),
        case("accessory directory on the uploaded files", &with("[accessories.db]\nimage = \"pg\"\nhost = \"127.0.0.1:1\"\ndirectories = [\"files:/data\"]\n"), "[\"files:/data\"]", &["accessories.db.directories", "uploaded files", "accessory remove"]),
        case("accessory directory below the uploaded files", &with("[accessories.db]\nimage = \"pg\"\nhost = \"127.0.0.1:1\"\ndirectories = [\"./files/pg:/data\"]\n"), "[\"./files/pg:/data\"]", &["accessories.db.directories", "uploaded files"]),
        case("accessory directory outside its own", &with("[accessories.db]\nimage = \"pg\"\nhost = \"127.0.0.1:1\"\ndirectories = [\"../x:/data\"]\n"), "[\"../x:/data\"]", &["accessories.db.directories", "leaves"]),
        case("role name ending in -", "service = \"app\"\nimage = \"org/app\"\n[servers.web-]\nhosts = [\"127.0.0.1:1\"]\n", "[servers.web-]", &["servers.web-", "cannot begin or end with -"]),
        case("accessory directory", &with("[accessories.db]\nimage = \"pg\"\nhost = \"127.0.0.1:1\"\ndirectories = [\"data\"]\n"), "[\"data\"]", &["accessories.db.directories", "HOST_DIR:/path"]),
        case("bad host string", "service = \"app\"\nimage = \"org/app\"\nservers = [\"127.0.0.1:1\", \"root@@x\"]\n", "\"root@@x\"", &["servers[1]", "bad host \"root@@x\""]),
        case("unknown key in a host's table", "service = \"app\"\nimage = \"org/app\"\nservers = [\"127.0.0.1:1\", { host = \"127.0.0.1:2\", tagz = [\"eu\"] }]\n", "tagz", &["servers[1].tagz", "unknown key `tagz`", "did you mean `tags`"]),
        case("tags that are not a list", "service = \"app\"\nimage = \"org/app\"\n[servers.web]\nhosts = [{ host = \"127.0.0.1:1\", tags = \"eu\" }]\n", "\"eu\"", &["servers.web.hosts[0].tags", "expected a sequence"]),
        case("env for a tag no host carries", &with("[env.tags.eu]\nclear = { REGION = \"eu\" }\n"), "[env.tags.eu]", &["env.tags.eu", "tag \"eu\": no host carries it"]),
        case("secret of a tag's env not defined", "service = \"app\"\nimage = \"org/app\"\nservers = [{ host = \"127.0.0.1:1\", tags = [\"eu\"] }]\n[env.tags.eu]\nsecret = [\"EU_DB\"]\n", "\"EU_DB\"", &["env.tags.eu.secret[0]", "secret EU_DB is referenced but not defined"]),
        case("accessory on a tag no host carries", &with("[accessories.db]\nimage = \"pg\"\ntags = [\"db\"]\n"), "\"db\"", &["accessories.db.tags[0]", "tag \"db\": no host carries it"]),
        case("bad port in a role's host", "service = \"app\"\nimage = \"org/app\"\n[servers.web]\nhosts = [\"web1:99999\"]\n", "\"web1:99999\"", &["servers.web.hosts[0]", "bad host"]),
        case("missing required key", "image = \"org/app\"\nservers = [\"127.0.0.1:1\"]\n", "", &["missing required key `service`"]),
        case("role with no hosts", "service = \"app\"\nimage = \"org/app\"\n[servers.web]\nhosts = [\"127.0.0.1:1\"]\n[servers.worker]\ncmd = \"bin/jobs\"\n", "[servers.worker]", &["servers.worker", "role worker has no hosts"]),
        case("secret referenced but not defined", &with("[env]\nsecret = [\"DATABASE_URL\"]\n"), "\"DATABASE_URL\"", &["env.secret[0]", "secret DATABASE_URL is referenced but not defined"]),
        case("aliased secret not defined", &with("[env]\nsecret = [\"DB:PROD_DB_URL\"]\n"), "\"DB:PROD_DB_URL\"", &["env.secret[0]", "secret PROD_DB_URL"]),
        case("bad percentage", &with("[boot]\nlimit = \"150%\"\n"), "\"150%\"", &["boot.limit", "bad percentage"]),
        case("invalid TOML", "service = \"app\nimage = \"org/app\"\n", "\n", &["invalid TOML"]),
        case("primary role that does not exist", &with("primary_role = \"api\"\n"), "\"api\"", &["primary_role", "\"api\" is not a role"]),
        case("bad known_hosts policy", &with("[ssh]\nknown_hosts_policy = \"sometimes\"\n"), "\"sometimes\"", &["ssh.known_hosts_policy", "unknown variant"]),
        case("registry without username", &with("[registry]\nserver = \"ghcr.io\"\n"), "[registry]", &["registry", "registry.username is required"]),
        case("app_port out of range", &with("[proxy]\napp_port = 70000\n"), "70000", &["proxy.app_port"]),
        case("automatic certificates without host names", &with("[proxy]\nssl = true\n"), "true", &["proxy.ssl", "ACME", "set proxy.host or proxy.hosts"]),
        case("automatic certificates for a wildcard", &with("[proxy]\nhosts = [\"*.shop.test\"]\nssl = true\n"), "true", &["proxy.ssl", "*.shop.test", "exact DNS names"]),
        case("ACME e-mail without automatic certificates", &with("[proxy]\nhost = \"shop.test\"\nacme_email = \"ops@shop.test\"\n"), "\"ops@shop.test\"", &["proxy.acme_email", "set ssl = true"]),
        case("certificate without its key", &with("[proxy]\nssl_certificate = \"c.pem\"\n"), "\"c.pem\"", &["proxy.ssl_certificate", "needs ssl_private_key"]),
        case("trusted proxy that is no address", &with("[proxy]\ntrusted_proxies = [\"10.0.0.0/8\", \"cdn.example.com\"]\n"), "\"cdn.example.com\"", &["proxy.trusted_proxies[1]", "not an IP address or a CIDR range"]),
        case("trusted proxy range out of bounds", &with("[proxy]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"), "\"10.0.0.0/33\"", &["proxy.trusted_proxies[0]", "CIDR"]),
        case("a Kamal key dhow does not support yet", &with("volumes = [\"/data:/data\"]\n"), "[\"/data:/data\"]", &["volumes", "not supported by dhow yet", "remove it"]),
        case("buffering sizes without buffering", &with("[proxy.buffering]\nmax_response_body = 1000\n"), "1000", &["proxy.buffering.max_response_body", "set responses = true"]),
        case("health check path without a slash", &with("[proxy.healthcheck]\npath = \"up\"\n"), "\"up\"", &["proxy.healthcheck.path", "must start with /"]),
        case("zero health check interval", &with("[proxy.healthcheck]\ninterval = \"0s\"\n"), "\"0s\"", &["proxy.healthcheck.interval", "more than zero"]),
        case("duration that overflows", &with("deploy_timeout = \"99999999999999h\"\n"), "\"99999999999999h\"", &["deploy_timeout", "too long"]),
        case("bare seconds that overflow", &with("drain_timeout = 9223372036854775807\n"), "9223372036854775807", &["drain_timeout", "too long"]),
        case("negative duration", &with("[ssh]\nconnect_timeout = \"-1s\"\n"), "\"-1s\"", &["ssh.connect_timeout", "bad duration"]),
        case("command with an unclosed quote", &with("[servers.web]\nhosts = [\"127.0.0.1:1\"]\ncmd = \"bin/rails 'console\"\n").replace("servers = [\"127.0.0.1:1\"]\n", ""), "\"bin/rails 'console\"", &["servers.web.cmd", "quote"]),
        case("unknown build context source", &with("[builder]\ncontext_source = \"clean\"\n"), "\"clean\"", &["builder.context_source", "unknown variant", "working-tree"]),
        Case {
            name: "error in the destination file",
            config: BASE.to_string(),
            staging: Some("servers = [\"127.0.0.1:1\"]\n[ssh]\nprot = 22\n".into()),
            secrets: None,
            args: &["-d", "staging"],
            file: "config/deploy.staging.toml",
            token: "prot",
            expect: &["ssh.prot", "did you mean `port`"],
        },
        Case {
            name: "destination required",
            config: with("require_destination = true\n"),
            staging: None,
            secrets: None,
            args: &[],
            file: "config/deploy.toml",
            token: "true",
            expect: &["require_destination", "pass -d"],
        },
        Case {
            name: "registry password secret not defined for the destination",
            config: with("[registry]\nserver = \"ghcr.io\"\nusername = \"org\"\npassword = \"REGISTRY_PASSWORD\"\n"),
            staging: Some("boot = { limit = 1 }\n".into()),
            secrets: Some("OTHER=x\n"),
            args: &["-d", "staging"],
            file: "config/deploy.toml",
            token: "\"REGISTRY_PASSWORD\"",
            expect: &["registry.password", "secret REGISTRY_PASSWORD is referenced but not defined"],
        },
    ]
}

fn run_case(c: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join("hooks")).unwrap();
    std::fs::write(root.join("config/deploy.toml"), &c.config).unwrap();
    if let Some(s) = &c.staging {
        std::fs::write(root.join("config/deploy.staging.toml"), s).unwrap();
    }
    if let Some(s) = c.secrets {
        std::fs::create_dir_all(root.join(".dhow")).unwrap();
        std::fs::write(root.join(".dhow/secrets"), s).unwrap();
    }
    let hook = root.join("hooks/pre-connect");
    std::fs::write(&hook, "#!/bin/sh\ntouch \"$(dirname \"$0\")/../RAN\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_dhow"))
        .arg("deploy")
        .args(["--version", "v1"])
        .args(c.args)
        .current_dir(root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "[{}] exit code; stderr:\n{stderr}",
        c.name
    );
    let text = if c.file.ends_with("staging.toml") {
        c.staging.clone().unwrap_or_default()
    } else {
        c.config.clone()
    };
    let pos = if c.token.is_empty() {
        "1:1".to_string()
    } else {
        position(&text, c.token)
    };
    let location = format!("{}:{pos}", c.file);
    assert!(
        stderr.contains(&location),
        "[{}] expected location {location} in:\n{stderr}",
        c.name
    );
    for e in c.expect {
        assert!(
            stderr.contains(e),
            "[{}] expected {e:?} in:\n{stderr}",
            c.name
        );
    }
    assert!(
        !Path::new(&root.join("RAN")).exists(),
        "[{}] a hook ran: the config error must stop everything",
        c.name
    );
}

#[test]
fn every_bad_config_is_reported_at_its_place_and_nothing_runs() {
    let all = cases();
    assert!(all.len() >= 15);
    for c in &all {
        run_case(c);
    }
}

#[test]
fn config_prints_the_merge_and_never_a_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join(".dhow")).unwrap();
    std::fs::write(
        root.join("config/deploy.toml"),
        format!("{BASE}[env]\nsecret = [\"API_KEY\"]\n[env.clear]\nMODE = \"base\"\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("config/deploy.staging.toml"),
        "[env.clear]\nMODE = \"staging\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join(".dhow/secrets.staging"),
        "API_KEY=sup3r-s3cret-value\n",
    )
    .unwrap();
    for json in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhow"));
        cmd.args(["config", "-d", "staging"]).current_dir(root);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("staging"),
            "merged value from the destination file: {all}"
        );
        assert!(all.contains("API_KEY"), "secret names are shown: {all}");
        assert!(
            !all.contains("sup3r-s3cret-value"),
            "secret value leaked: {all}"
        );
    }
}

#[test]
fn init_writes_a_working_start_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    let init = || {
        Command::new(env!("CARGO_BIN_EXE_dhow"))
            .arg("init")
            .current_dir(root)
            .output()
            .unwrap()
    };
    let out = init();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    for hook in [
        "pre-connect",
        "pre-build",
        "pre-deploy",
        "post-deploy",
        "pre-app-boot",
        "post-app-boot",
        "docker-setup",
        "pre-proxy-reboot",
        "post-proxy-reboot",
    ] {
        let p = root.join("hooks").join(hook);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{hook} must be executable");
        let ran = Command::new(&p)
            .env("DHOW_SERVICE", "app")
            .env("DHOW_HOSTS", "h1")
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            ran.status.success(),
            "sample hook {hook} must work: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
    assert_eq!(
        std::fs::metadata(root.join(".dhow/secrets"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let gi = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(
        gi.contains("target/") && gi.contains(".dhow/secrets*"),
        "{gi}"
    );
    // The written config is valid as it stands.
    let cfg = Command::new(env!("CARGO_BIN_EXE_dhow"))
        .arg("config")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        cfg.status.success(),
        "the sample config must load: {}",
        String::from_utf8_lossy(&cfg.stderr)
    );
    // A second run refuses and changes nothing.
    std::fs::write(root.join("config/deploy.toml"), "# mine\n").unwrap();
    let again = init();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read_to_string(root.join("config/deploy.toml")).unwrap(),
        "# mine\n"
    );
}
