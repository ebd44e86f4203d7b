//! known_hosts files as OpenSSH writes them: plain names, `[host]:port` entries, hashed
//! entries (`|1|salt|hash`), `*`/`?` wildcards, `!` negations and `@revoked` markers.
//!
//! [`check`] says whether a presented host key is known, unknown or changed; [`append`]
//! records a new key (accept-new).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The answer for one host and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A matching entry holds exactly this key.
    Known,
    /// No entry for this host.
    Unknown,
    /// The host is listed with a different key of the same type (or the key is revoked).
    Changed { path: PathBuf, line: usize },
}

/// One key line of a known_hosts file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub revoked: bool,
    pub patterns: String,
    pub key: PublicKey,
}

/// The name a host is recorded under: `host` on port 22, else `[host]:port`; lowercased,
/// as OpenSSH does before matching (hashed entries hash the lowercased name).
pub fn host_key_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// The key's fingerprint as OpenSSH prints it (`SHA256:...`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parse a known_hosts text. Lines that cannot be parsed (or `@cert-authority`) are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if first.starts_with('@') {
            if first != "@revoked" {
                continue;
            }
            revoked = true;
            first = match fields.next() {
                Some(f) => f,
                None => continue,
            };
        }
        let (Some(_kind), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = russh::keys::parse_public_key_base64(b64) else {
            continue;
        };
        entries.push(Entry {
            line: i + 1,
            revoked,
            patterns: first.to_string(),
            key,
        });
    }
    entries
}

/// Does a comma-separated pattern list match `name` (`host` or `[host]:port`)?
pub fn matches(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            if hashed_matches(hashed, name) {
                matched = true;
            }
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, name) {
                return false;
            }
        } else if glob(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_matches(salt_and_hash: &str, name: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
        return false;
    };
    match <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) {
        Ok(mac) => mac
            .chain_update(name.as_bytes())
            .verify_slice(&hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hash a host name the way `ssh-keygen -H` does, with the given salt (20 bytes).
#[allow(dead_code)] // for writing hashed entries; tested below
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let digest = match <Hmac<Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(mac) => mac
            .chain_update(name.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        Err(_) => Vec::new(),
    };
    format!("|1|{}|{}", B64.encode(salt), B64.encode(digest))
}

/// OpenSSH-style wildcard match (`*` any run, `?` one char), case-insensitive.
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => rec(&p[1..], &n[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

/// Read a known_hosts file; a missing file is empty.
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The entries (not revoked) recorded for a host.
pub fn entries_for<'a>(entries: &'a [Entry], host: &str, port: u16) -> Vec<&'a Entry> {
    let name = host_key_name(host, port);
    entries
        .iter()
        .filter(|e| !e.revoked && matches(&e.patterns, &name))
        .collect()
}

/// The key algorithms known for a host (to prefer them during key exchange, as OpenSSH does).
pub fn known_algorithms(entries: &[Entry], host: &str, port: u16) -> Vec<Algorithm> {
    let mut algs = Vec::new();
    for e in entries_for(entries, host, port) {
        let alg = e.key.algorithm();
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    algs
}

/// Check a presented key against the entries of `path`.
pub fn check(entries: &[Entry], path: &Path, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let same_key = |e: &Entry| e.key.key_data() == key.key_data();
    if let Some(e) = entries.iter().find(|e| e.revoked && same_key(e)) {
        return Verdict::Changed {
            path: path.to_path_buf(),
            line: e.line,
        };
    }
    let mine = entries_for(entries, host, port);
    if mine.iter().any(|e| same_key(e)) {
        return Verdict::Known;
    }
    // Prefer the entry of the same key type; listed only with keys of other types is
    // refused too (as OpenSSH does: it cannot tell a new key from an attack).
    match mine
        .iter()
        .find(|e| e.key.algorithm() == key.algorithm())
        .or(mine.first())
    {
        Some(e) => Verdict::Changed {
            path: path.to_path_buf(),
            line: e.line,
        },
        None => Verdict::Unknown,
    }
}

/// Check a presented key against several files (the user's, then the system's), as OpenSSH
/// does: a revoked key anywhere is refused; known in any file is accepted; else the first
/// file listing the host with another key says it changed; else unknown.
pub fn check_all(
    files: &[(PathBuf, Vec<Entry>)],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Verdict {
    for (path, entries) in files {
        if let Some(e) = entries
            .iter()
            .find(|e| e.revoked && e.key.key_data() == key.key_data())
        {
            return Verdict::Changed {
                path: path.clone(),
                line: e.line,
            };
        }
    }
    let verdicts: Vec<Verdict> = files
        .iter()
        .map(|(path, entries)| check(entries, path, host, port, key))
        .collect();
    if verdicts.contains(&Verdict::Known) {
        return Verdict::Known;
    }
    verdicts
        .into_iter()
        .find(|v| matches!(v, Verdict::Changed { .. }))
        .unwrap_or(Verdict::Unknown)
}

/// Append `name key` to the file (creating it and its folder, 0600 for a new file).
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    let existing = std::fs::read(path).unwrap_or_default();
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut line = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        line.push('\n');
    }
    line.push_str(&format!(
        "{} {}\n",
        host_key_name(host, port),
        openssh.trim()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    fn check_text(text: &str, host: &str, port: u16, k: &str) -> Verdict {
        check(&parse(text), Path::new("kh"), host, port, &key(k))
    }

    #[test]
    fn plain_and_bracketed_entries() {
        let text = format!(
            "[127.0.0.11]:2222 ssh-ed25519 {ED1}\nexample.com,10.0.0.1 ssh-ed25519 {ED2} c\n"
        );
        assert_eq!(check_text(&text, "127.0.0.11", 2222, ED1), Verdict::Known);
        assert_eq!(check_text(&text, "127.0.0.11", 22, ED1), Verdict::Unknown);
        assert_eq!(check_text(&text, "10.0.0.1", 22, ED2), Verdict::Known);
        assert_eq!(check_text(&text, "EXAMPLE.com", 22, ED2), Verdict::Known);
        assert_eq!(
            check_text(&text, "127.0.0.11", 2222, ED2),
            Verdict::Changed {
                path: "kh".into(),
                line: 1
            }
        );
    }

    #[test]
    fn hashed_entries_match_ssh_keygen_output() {
        // Our own hashing, checked by our matcher.
        let salt = [7u8; 20];
        let hashed = hash_name("[127.0.0.12]:2222", &salt);
        assert!(hashed.starts_with("|1|"));
        assert!(matches(&hashed, "[127.0.0.12]:2222"));
        assert!(!matches(&hashed, "[127.0.0.12]:22"));
        // Written by `ssh-keygen -H` (OpenSSH 9.2) for `[127.0.0.12]:2222`.
        let openssh = "|1|rwQGkwXup1b0oUw0//aQnh5EaLA=|e8Q0l0oA1bUcDMmM4b1uW31vIT4=";
        assert!(matches(openssh, "[127.0.0.12]:2222"));
        assert!(!matches(openssh, "127.0.0.12"));
        let text = format!("{hashed} ssh-ed25519 {ED1}\n");
        assert_eq!(check_text(&text, "127.0.0.12", 2222, ED1), Verdict::Known);
        assert!(matches!(
            check_text(&text, "127.0.0.12", 2222, ED2),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn wildcards_negation_comments_and_revoked() {
        let text = format!(
            "# comment\n\n*.example.com,!bad.example.com ssh-ed25519 {ED1}\n@cert-authority * ssh-ed25519 {ED2}\n@revoked * ssh-ed25519 {ED2}\ngarbage line\n"
        );
        assert_eq!(check_text(&text, "a.example.com", 22, ED1), Verdict::Known);
        assert_eq!(
            check_text(&text, "bad.example.com", 22, ED1),
            Verdict::Unknown
        );
        assert!(matches!(
            check_text(&text, "x.org", 22, ED2),
            Verdict::Changed { line: 5, .. }
        ));
        assert!(glob("h?st*", "host-1"));
        assert!(!glob("h?st", "hoost"));
    }

    #[test]
    fn hashed_names_are_lowercased_and_bracketed_for_other_ports() {
        let salt = [9u8; 20];
        // ssh-keygen -H hashes the lowercased name; a mixed-case config still matches.
        let text = format!(
            "{} ssh-ed25519 {ED1}\n{} ssh-ed25519 {ED2}\n",
            hash_name("web.example.com", &salt),
            hash_name("[web.example.com]:2222", &salt)
        );
        assert_eq!(
            check_text(&text, "Web.Example.COM", 22, ED1),
            Verdict::Known
        );
        assert_eq!(
            check_text(&text, "web.example.com", 2222, ED2),
            Verdict::Known
        );
        assert!(matches!(
            check_text(&text, "web.example.com", 2222, ED1),
            Verdict::Changed { line: 2, .. }
        ));
        assert_eq!(
            check_text(&text, "web.example.org", 22, ED1),
            Verdict::Unknown
        );
        // A wrong hash (another salt's digest) never matches.
        let wrong = hash_name("other.example.com", &salt);
        assert!(!matches(&wrong, "web.example.com"));
    }

    #[test]
    fn the_system_file_counts_beside_the_users() {
        let user = (
            PathBuf::from("user"),
            parse(&format!("a ssh-ed25519 {ED1}\n")),
        );
        let system = (
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            parse(&format!("b ssh-ed25519 {ED2}\nc ssh-ed25519 {ED2}\n")),
        );
        let both = [user.clone(), system.clone()];
        assert_eq!(check_all(&both, "a", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check_all(&both, "b", 22, &key(ED2)), Verdict::Known);
        assert_eq!(
            check_all(&both, "c", 22, &key(ED1)),
            Verdict::Changed {
                path: "/etc/ssh/ssh_known_hosts".into(),
                line: 2
            }
        );
        assert_eq!(check_all(&both, "d", 22, &key(ED1)), Verdict::Unknown);
        // Revoked in the system file: refused although the user's file lists it.
        let revoked = (
            PathBuf::from("sys"),
            parse(&format!("@revoked * ssh-ed25519 {ED1}\n")),
        );
        assert!(matches!(
            check_all(&[user, revoked], "a", 22, &key(ED1)),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn append_then_known() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("other ssh-ed25519 {ED2}")).unwrap();
        append(&path, "127.0.0.11", 2222, &key(ED1)).unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            check(&entries, &path, "127.0.0.11", 2222, &key(ED1)),
            Verdict::Known
        );
        assert_eq!(
            known_algorithms(&entries, "127.0.0.11", 2222),
            vec![Algorithm::Ed25519]
        );
        assert!(fingerprint(&key(ED1)).starts_with("SHA256:"));
        assert!(read(&dir.path().join("missing")).unwrap().is_empty());
    }
}
