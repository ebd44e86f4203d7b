//! Tests of ssh config parsing and host matching (`ssh_config.rs`).

use super::*;

const CONFIG: &str = "\
# global settings come first
ServerAliveInterval 30
Host web? !web9 *.prod
  HostName %h.internal
  User=deploy
  Port = 2200
  IdentityFile ~/.ssh/web
  IdentityFile \"/keys/with space\"
  IdentitiesOnly yes
  ProxyJump jump1,ops@jump2:2222
Host *
  User nobody
  Port 22
  IdentityFile /keys/all
  StrictHostKeyChecking no
Host legacy
  ProxyCommand nc %h %p
";

fn parsed() -> SshConfigFile {
    SshConfigFile::parse(CONFIG, "cfg").unwrap()
}

#[test]
fn first_value_wins_and_identity_files_accumulate() {
    let c = parsed().lookup("web1", None).unwrap();
    assert_eq!(c.hostname.as_deref(), Some("web1.internal"));
    assert_eq!(c.user.as_deref(), Some("deploy"));
    assert_eq!(c.port, Some(2200));
    assert_eq!(c.server_alive_interval, Some(30));
    assert_eq!(c.identities_only, Some(true));
    let home = super::super::home_dir();
    assert_eq!(
        c.identity_files,
        vec![
            home.join(".ssh/web"),
            PathBuf::from("/keys/with space"),
            PathBuf::from("/keys/all")
        ]
    );
    let jumps = c.proxy_jump.unwrap();
    assert_eq!(jumps.len(), 2);
    assert_eq!(jumps[1].to_string(), "ops@jump2:2222");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("cfg:15"), "{:?}", c.warnings);
}

#[test]
fn negation_and_wildcards_select_blocks() {
    let f = parsed();
    // web9 is excluded by `!web9`: only `Host *` applies.
    let c = f.lookup("web9", None).unwrap();
    assert_eq!(
        (c.user.as_deref(), c.port, c.hostname),
        (Some("nobody"), Some(22), None)
    );
    assert_eq!(f.lookup("db.prod", None).unwrap().port, Some(2200));
    assert_eq!(
        f.lookup("WEB2", None).unwrap().port,
        Some(2200),
        "case-insensitive"
    );
    assert_eq!(
        f.lookup("web10", None).unwrap().port,
        Some(22),
        "`?` is one character"
    );
}

#[test]
fn proxy_command_is_refused_and_proxy_jump_none_clears() {
    let err = parsed().lookup("legacy", None).unwrap_err().to_string();
    assert!(err.contains("cfg:17") && err.contains("ProxyJump"), "{err}");
    let f = SshConfigFile::parse("Host a\n ProxyJump none\nHost *\n ProxyJump j\n", "c").unwrap();
    assert_eq!(f.lookup("a", None).unwrap().proxy_jump, Some(vec![]));
    // ProxyJump first, then ProxyCommand: the first one obtained wins, no error.
    let f = SshConfigFile::parse("Host a\n ProxyJump j\nHost *\n ProxyCommand x\n", "c").unwrap();
    assert_eq!(f.lookup("a", None).unwrap().proxy_jump.unwrap().len(), 1);
}

#[test]
fn bad_values_name_the_line_and_match_blocks_warn() {
    let f = SshConfigFile::parse("Host a\n Port high\n", "c").unwrap();
    assert!(f
        .lookup("a", None)
        .unwrap_err()
        .to_string()
        .contains("c:2: Port"));
    let f = SshConfigFile::parse("Match host x\n User y\nHost *\n User z\n", "c").unwrap();
    assert_eq!(f.lookup("x", None).unwrap().user.as_deref(), Some("z"));
    assert_eq!(f.match_warnings().len(), 1);
}

#[test]
fn include_reads_files_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "Host inc\n User included\n").unwrap();
    let text = format!(
        "Include {}/*.conf\nHost *\n User other\n",
        dir.path().display()
    );
    let f = SshConfigFile::parse(&text, "c").unwrap();
    assert_eq!(
        f.lookup("inc", None).unwrap().user.as_deref(),
        Some("included")
    );
    assert_eq!(f.lookup("x", None).unwrap().user.as_deref(), Some("other"));
}
