//! Writing files on the host through an exec channel's stdin, so their content (env files,
//! secrets) never appears on a command line, and shell-quoting for the paths in commands.

use super::Session;
use crate::error::{fail, Kind};

/// Quote `s` for a POSIX shell (single quotes; embedded quotes escaped).
#[allow(dead_code)] // for deploy steps that build commands
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Session {
    /// Write `contents` to `path` on the host with permissions `mode` (e.g. 0o600), atomically:
    /// a temp file next to it (created with no access for others), then rename. The folder
    /// must exist.
    #[allow(dead_code)] // for deploy (env files) and setup
    pub async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> anyhow::Result<()> {
        let target = shell_quote(path);
        let temp = shell_quote(&format!("{path}.dhow-tmp"));
        let cmd = format!(
            "umask 077 && cat > {temp} && chmod {mode:o} {temp} && mv -f {temp} {target} || {{ rm -f {temp}; exit 1; }}"
        );
        let out = self.exec_with_stdin(&cmd, contents).await?;
        if out.status != 0 {
            return Err(fail(
                Kind::Remote,
                format!(
                    "{}: cannot write {path}: {} (does its folder exist and is it writable?)",
                    self.host(),
                    out.stderr.trim()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("/etc/dhow/app.env"), "/etc/dhow/app.env");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
