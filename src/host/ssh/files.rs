//! Writing files on the host through an exec channel's stdin, so their content (env files,
//! secrets) never appears on a command line.

use super::Session;
use crate::error::{fail, Kind};
use crate::host::shell::quote;

impl Session {
    /// Write `contents` to `path` on the host with permissions `mode` (e.g. 0o600), atomically:
    /// a temp file next to it (created with no access for others), then rename. The folder
    /// must exist.
    #[allow(dead_code)] // for deploy (env files) and setup
    pub async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> anyhow::Result<()> {
        let target = quote(path);
        let temp = quote(&format!("{path}.dhow-tmp"));
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
