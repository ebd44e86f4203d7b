//! The audit log: one line per action, appended on every host the action touched, so the
//! servers (not a laptop) remember who deployed what, when, and where.

use crate::error::{fail, Kind};
use crate::host::remote::Exec;
use crate::host::shell::quote;

/// The audit log file for a service (and destination), relative to the SSH user's home.
pub fn audit_file(key: &str) -> String {
    format!("{}/audit.log", crate::host::state_dir::dir(key))
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: &'a str,
    pub performer: &'a str,
    pub action: &'a str,
    pub version: Option<&'a str>,
    pub role: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub detail: &'a str,
}

impl Entry<'_> {
    /// `2026-11-22T10:00:00Z alice deploy version=abc role=web destination=staging: detail`
    pub fn line(&self) -> String {
        let mut s = format!("{} {} {}", self.at, one_word(self.performer), self.action);
        for (k, v) in [
            ("version", self.version),
            ("role", self.role),
            ("destination", self.destination),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" {k}={}", one_word(v)));
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail.replace('\n', " "));
        }
        s
    }
}

/// A line of the audit log read back as fields (`at`, `performer`, `action`, the `key=value`
/// pairs, `detail`), for `dhow audit --json`. A line of another shape is kept whole as `line`.
pub fn parse_line(line: &str) -> serde_json::Value {
    // Timestamps hold ':' but never ": "; the other head fields are single words.
    let (head, detail) = match line.split_once(": ") {
        Some((h, d)) => (h, Some(d)),
        None => (line, None),
    };
    let mut words = head.split(' ');
    let (Some(at), Some(performer), Some(action)) = (words.next(), words.next(), words.next())
    else {
        return serde_json::json!({ "line": line });
    };
    let mut v = serde_json::json!({ "at": at, "performer": performer, "action": action });
    for w in words {
        match w.split_once('=') {
            Some((k, val)) => v[k] = val.into(),
            None => return serde_json::json!({ "line": line }),
        }
    }
    v["detail"] = detail.unwrap_or("").into();
    v
}

fn one_word(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join("_")
}

/// Append entries to the host's audit log.
pub async fn append(host: &dyn Exec, key: &str, entries: &[Entry<'_>]) -> anyhow::Result<()> {
    let file = audit_file(key);
    let dir = file
        .rsplit_once('/')
        .map_or(".dhow", |(d, _)| d)
        .to_string();
    let mut body = String::new();
    for e in entries {
        body.push_str(&e.line());
        body.push('\n');
    }
    let out = host
        .exec_step(
            "write the audit log",
            &format!(
                "{}mkdir -p {} && cat >> {}",
                crate::host::state_dir::prepare(key),
                quote(&dir),
                quote(&file)
            ),
            Some(body.into_bytes()),
        )
        .await?;
    if !out.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: could not write the audit log: {}",
                host.label(),
                out.stderr.trim()
            ),
        ));
    }
    Ok(())
}

/// The last `lines` lines of the host's audit log.
pub async fn tail(host: &dyn Exec, key: &str, lines: usize) -> anyhow::Result<String> {
    let out = host
        .exec_step(
            "read the audit log",
            &format!(
                "tail -n {lines} {} 2>/dev/null || true",
                quote(&audit_file(key))
            ),
            None,
        )
        .await?;
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::remote::LocalShell;

    #[test]
    fn a_written_line_reads_back_as_its_fields() {
        let e = Entry {
            at: "2026-11-22T10:00:00Z",
            performer: "Ann Lee",
            action: "deploy",
            version: Some("abc"),
            role: Some("web"),
            destination: None,
            detail: "took 2s: fine",
        };
        let v = parse_line(&e.line());
        assert_eq!(v["at"], "2026-11-22T10:00:00Z");
        assert_eq!(v["performer"], "Ann_Lee");
        assert_eq!(
            (&v["action"], &v["version"], &v["role"]),
            (&"deploy".into(), &"abc".into(), &"web".into())
        );
        assert_eq!(v["detail"], "took 2s: fine");
        assert_eq!(parse_line("garbage")["line"], "garbage");
    }

    #[tokio::test]
    async fn entries_are_appended_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        let e = Entry {
            at: "2026-11-22T10:00:00Z",
            performer: "alice smith",
            action: "deploy",
            version: Some("abc"),
            role: Some("web"),
            destination: None,
            detail: "started",
        };
        append(&sh, "demo", std::slice::from_ref(&e)).await.unwrap();
        append(
            &sh,
            "demo",
            &[Entry {
                action: "rollback",
                ..e
            }],
        )
        .await
        .unwrap();
        let text = tail(&sh, "demo", 10).await.unwrap();
        assert_eq!(
            text,
            "2026-11-22T10:00:00Z alice_smith deploy version=abc role=web: started\n\
             2026-11-22T10:00:00Z alice_smith rollback version=abc role=web: started\n"
        );
    }
}
