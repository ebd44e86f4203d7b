//! The user's OpenSSH client config (`~/.ssh/config`, or the file `ssh.config` names), read
//! the way `ssh` reads it: `Host` blocks with `*`/`?` wildcards and `!` negations matched
//! case-insensitively against the name as written in the deploy config, the first value
//! obtained for a directive wins (IdentityFile accumulates), `Include` (relative to ~/.ssh,
//! `*`/`?` in the file name) is read in place.
//!
//! Applied: HostName (`%h`), User, Port, IdentityFile (`~`, `%d`, `%h`, `%r`, `%u`, `%%`),
//! IdentitiesOnly, ProxyJump (comma chains and `none`), ServerAliveInterval, ConnectTimeout.
//! `ProxyCommand` for a host dhow connects to is an error (dhow cannot run it; the error says
//! to use ProxyJump or `ssh.proxy`). Directives that change host key checking or
//! authentication and that dhow does not apply (StrictHostKeyChecking, UserKnownHostsFile,
//! GlobalKnownHostsFile, HostKeyAlias, CertificateFile, IdentityAgent) give a warning naming
//! the file and line; `Match` blocks are not evaluated and give a warning. Other directives
//! (ForwardAgent, ControlMaster, Compression, ...) do not change where or as whom dhow
//! connects and are skipped.
//!
//! Hand-written rather than `ssh2-config`: that crate either refuses directives it does not
//! model (`ParseRule::STRICT`) or drops them (`ALLOW_UNKNOWN_FIELDS`), and dhow must see
//! ProxyCommand, Match and the host-key directives to refuse or warn about them; the grammar
//! needed here is small.

use std::path::{Path, PathBuf};

/// Include nesting limit (OpenSSH uses 16).
const MAX_DEPTH: usize = 16;

/// A parsed config: its lines in file order, Includes expanded.
#[derive(Debug, Clone, Default)]
pub struct SshConfigFile {
    lines: Vec<Line>,
}

#[derive(Debug, Clone)]
struct Line {
    /// `file:line`, for messages.
    at: String,
    /// Lowercased directive name.
    key: String,
    args: Vec<String>,
    /// The Host patterns of the block it is in; `None` before the first Host (all hosts),
    /// `Some([])` inside a Match block (never applied).
    host: Option<Vec<String>>,
}

/// What the config says for one host; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    /// `Some(vec![])` for `ProxyJump none`.
    pub proxy_jump: Option<Vec<super::SshTarget>>,
    pub server_alive_interval: Option<u64>,
    pub connect_timeout: Option<u64>,
    /// Warnings about directives that applied but are not honoured.
    pub warnings: Vec<String>,
}

/// Directives that change security or authentication and that dhow does not apply.
const WARN: &[&str] = &[
    "stricthostkeychecking",
    "userknownhostsfile",
    "globalknownhostsfile",
    "hostkeyalias",
    "certificatefile",
    "identityagent",
];

impl SshConfigFile {
    /// Read `path`; `Ok(None)` if it does not exist.
    pub fn load(path: &Path) -> anyhow::Result<Option<SshConfigFile>> {
        if !path.exists() {
            return Ok(None);
        }
        let mut file = SshConfigFile::default();
        let mut host = None;
        file.read(path, &mut host, 0)?;
        Ok(Some(file))
    }

    /// Parse a config text (as if read from `name`; Includes are read from disk).
    #[cfg(test)]
    pub fn parse(text: &str, name: &str) -> anyhow::Result<SshConfigFile> {
        let mut file = SshConfigFile::default();
        let mut host = None;
        file.parse_into(text, name, &mut host, 0)?;
        Ok(file)
    }

    fn read(
        &mut self,
        path: &Path,
        host: &mut Option<Vec<String>>,
        depth: usize,
    ) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the ssh config {}: {e}", path.display()))?;
        self.parse_into(&text, &path.display().to_string(), host, depth)
    }

    fn parse_into(
        &mut self,
        text: &str,
        name: &str,
        host: &mut Option<Vec<String>>,
        depth: usize,
    ) -> anyhow::Result<()> {
        for (i, raw) in text.lines().enumerate() {
            let at = format!("{name}:{}", i + 1);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = split_key(line);
            let key = key.to_ascii_lowercase();
            let args = shell_words::split(rest)
                .map_err(|e| anyhow::anyhow!("{at}: cannot read `{key}`: {e}"))?;
            match key.as_str() {
                "host" => *host = Some(args),
                "match" => *host = Some(Vec::new()),
                "include" => {
                    if depth >= MAX_DEPTH {
                        anyhow::bail!("{at}: Include nested more than {MAX_DEPTH} deep");
                    }
                    for pattern in &args {
                        for path in include_files(pattern)? {
                            self.read(&path, host, depth + 1)?;
                        }
                    }
                }
                _ => self.lines.push(Line {
                    at,
                    key,
                    args,
                    host: host.clone(),
                }),
            }
        }
        Ok(())
    }

    /// `Match` blocks in the file (never applied): one warning each, for the caller to show.
    pub fn match_warnings(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for l in &self.lines {
            if l.host.as_ref().is_some_and(|h| h.is_empty()) {
                let block = l.at.rsplit_once(':').map_or("", |(f, _)| f).to_string();
                if !seen.contains(&block) {
                    seen.push(block);
                }
            }
        }
        seen.into_iter()
            .map(|f| {
                format!(
                    "{f}: `Match` blocks are not evaluated by dhow; their settings are not applied"
                )
            })
            .collect()
    }

    /// The settings for `alias` (the host as written in the deploy config).
    pub fn lookup(&self, alias: &str, remote_user: Option<&str>) -> anyhow::Result<HostConfig> {
        let mut c = HostConfig::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut proxy_command: Option<&Line> = None;
        for l in self.lines.iter().filter(|l| applies(l, alias)) {
            let first = l.key == "identityfile" || !seen.contains(&l.key.as_str());
            if !first {
                continue;
            }
            seen.push(&l.key);
            let arg = || -> anyhow::Result<&str> {
                match l.args.as_slice() {
                    [one] => Ok(one.as_str()),
                    _ => anyhow::bail!("{}: {} takes one value", l.at, l.key),
                }
            };
            match l.key.as_str() {
                "hostname" => c.hostname = Some(arg()?.replace("%h", alias)),
                "user" => c.user = Some(arg()?.to_string()),
                "port" => {
                    c.port =
                        Some(arg()?.parse().map_err(|_| {
                            anyhow::anyhow!("{}: Port must be a number 1-65535", l.at)
                        })?)
                }
                "identityfile" => c.identity_files.push(PathBuf::from(expand(
                    arg()?,
                    alias,
                    remote_user.or(c.user.as_deref()),
                    &l.at,
                )?)),
                "identitiesonly" => c.identities_only = Some(yes_no(arg()?, l)?),
                "serveraliveinterval" => c.server_alive_interval = Some(seconds(arg()?, l)?),
                "connecttimeout" => c.connect_timeout = Some(seconds(arg()?, l)?),
                "proxyjump" => {
                    // ProxyJump and ProxyCommand are one option in OpenSSH: first wins.
                    if !seen.contains(&"proxycommand") {
                        c.proxy_jump = Some(jumps(arg()?, l)?);
                    }
                    seen.push("proxycommand");
                }
                "proxycommand" => {
                    if !seen.contains(&"proxyjump") {
                        proxy_command = Some(l);
                    }
                    seen.push("proxyjump");
                }
                k if WARN.contains(&k) => c.warnings.push(format!(
                    "{}: `{} {}` is not applied by dhow (it uses ssh.known_hosts, \
                     ssh.known_hosts_policy and ssh.keys / ssh-agent instead)",
                    l.at,
                    l.key,
                    l.args.join(" ")
                )),
                _ => {}
            }
        }
        if let Some(l) = proxy_command {
            if !(l.args.len() == 1 && l.args[0].eq_ignore_ascii_case("none")) {
                anyhow::bail!(
                    "{}: ProxyCommand applies to {alias}, and dhow cannot run a proxy command: \
                     use `ProxyJump` in the ssh config or `proxy` in the [ssh] section of the \
                     deploy config, or set `ssh.config = false`",
                    l.at
                );
            }
        }
        Ok(c)
    }
}

/// `Key value`, `Key=value` or `Key = value`.
fn split_key(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    (key, rest.trim())
}

/// Does the line's block apply to `alias`? (A negated match excludes the block.)
fn applies(l: &Line, alias: &str) -> bool {
    let Some(patterns) = &l.host else {
        return true;
    };
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if super::known_hosts::glob(neg, alias) {
                return false;
            }
        } else if super::known_hosts::glob(p, alias) {
            hit = true;
        }
    }
    hit
}

fn yes_no(v: &str, l: &Line) -> anyhow::Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => anyhow::bail!("{}: {} must be yes or no, not {v:?}", l.at, l.key),
    }
}

fn seconds(v: &str, l: &Line) -> anyhow::Result<u64> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("{}: {} must be a number of seconds", l.at, l.key))
}

fn jumps(v: &str, l: &Line) -> anyhow::Result<Vec<super::SshTarget>> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|hop| {
            let hop = hop.trim();
            super::SshTarget::parse(hop.strip_prefix("ssh://").unwrap_or(hop)).ok_or_else(|| {
                anyhow::anyhow!("{}: ProxyJump hop {hop:?} is not [user@]host[:port]", l.at)
            })
        })
        .collect()
}

/// `~` and the `%` tokens OpenSSH allows in IdentityFile.
fn expand(v: &str, alias: &str, user: Option<&str>, at: &str) -> anyhow::Result<String> {
    let home = super::home_dir().display().to_string();
    let v = match v.strip_prefix("~/") {
        Some(rest) => format!("{home}/{rest}"),
        None => v.to_string(),
    };
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&home),
            Some('h') => out.push_str(alias),
            Some('r') => out.push_str(user.unwrap_or("root")),
            Some('u') => out.push_str(&std::env::var("USER").unwrap_or_default()),
            other => anyhow::bail!(
                "{at}: IdentityFile token %{} is not supported by dhow (use %d, %h, %r, %u or %%)",
                other.map(String::from).unwrap_or_default()
            ),
        }
    }
    Ok(out)
}

/// The files an `Include` names: relative to ~/.ssh, `*`/`?` allowed in the file name.
fn include_files(pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    let ssh = super::home_dir().join(".ssh");
    let path = match pattern.strip_prefix("~/") {
        Some(rest) => super::home_dir().join(rest),
        None if Path::new(pattern).is_absolute() => PathBuf::from(pattern),
        None => ssh.join(pattern),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(if path.exists() { vec![path] } else { vec![] });
    }
    let dir = path.parent().unwrap_or(&ssh).to_path_buf();
    let mut found: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| super::known_hosts::glob(&name, &e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    Ok(found)
}

#[cfg(test)]
#[path = "ssh_config_tests.rs"]
mod tests;
