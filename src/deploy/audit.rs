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
