//! The files next to a Kamal config: `.kamal/secrets*` copied to `.dhow/secrets*` (with
//! `kamal secrets` calls turned into `dhow secrets`), and `.kamal/hooks/*` copied to `hooks/`
//! when dhow runs a hook of that name (Kamal's `KAMAL_*` variables renamed to dhow's
//! `DHOW_*`). Never overwrites; every file gets a line saying what happened to it.

use super::Report;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The hooks dhow runs (the names `dhow init` writes samples for), the same names as Kamal's.
pub const HOOK_NAMES: &[&str] = &[
    "pre-connect",
    "pre-build",
    "pre-deploy",
    "pre-app-boot",
    "post-app-boot",
    "post-deploy",
    "docker-setup",
    "pre-proxy-reboot",
    "post-proxy-reboot",
];

/// Kamal's hook variables that dhow sets too, as `DHOW_<same>`.
const HOOK_VARS: &[&str] = &[
    "SERVICE_VERSION",
    "SERVICE",
    "VERSION",
    "DESTINATION",
    "HOSTS",
    "ROLES",
    "PERFORMER",
    "RECORDED_AT",
    "RUNTIME",
];

/// Write `body` to `to` with `mode` unless it exists; says which.
pub fn write_new(
    to: &Path,
    body: &str,
    mode: u32,
    from: &str,
    r: &mut Report,
) -> anyhow::Result<()> {
    if to.exists() {
        r.lines.push(format!(
            "skipped {}: it exists (not overwritten)",
            to.display()
        ));
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(to, body)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    r.lines
        .push(format!("wrote {} (from {from})", to.display()));
    Ok(())
}

/// The regular files in `dir` whose names start with `prefix`, sorted.
fn listing(dir: &Path, prefix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", dir.display())),
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// `<secrets_path>`, `<secrets_path>-common`, `<secrets_path>.<dest>` to `.dhow/secrets...`.
pub fn secrets(secrets_path: &Path, r: &mut Report) -> anyhow::Result<()> {
    let dir = secrets_path.parent().unwrap_or(Path::new("."));
    let Some(stem) = secrets_path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let found = listing(dir, stem)?;
    if found.is_empty() {
        r.lines
            .push(format!("no {}* files to copy", secrets_path.display()));
    }
    for f in found {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let suffix = &name[stem.len()..];
        if !(suffix.is_empty() || suffix == "-common" || suffix.starts_with('.')) {
            continue;
        }
        // Never printed: only names and the file's path reach the report.
        let text = std::fs::read_to_string(&f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        let body = text.replace("kamal secrets", "dhow secrets");
        let to = PathBuf::from(format!(".dhow/secrets{suffix}"));
        write_new(&to, &body, 0o600, &f.display().to_string(), r)?;
    }
    Ok(())
}

/// The hooks in `hooks_dir` that dhow has, with their variables renamed.
pub fn hooks(hooks_dir: &Path, r: &mut Report) -> anyhow::Result<()> {
    for f in listing(hooks_dir, "")? {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let shown = f.display().to_string();
        if name.starts_with('.') {
            r.lines
                .push(format!("skipped {shown}: a hidden file, not a hook"));
            continue;
        }
        if name.ends_with(".sample") {
            r.lines.push(format!(
                "skipped {shown}: a sample (dhow init writes its own)"
            ));
            continue;
        }
        if !HOOK_NAMES.contains(&name) {
            r.warnings.push(format!(
                "{shown}: dhow has no hook named {name} (its hooks: {}); not copied",
                HOOK_NAMES.join(", ")
            ));
            continue;
        }
        let text =
            std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
        let body = rename_vars(&text);
        for gone in ["KAMAL_COMMAND", "KAMAL_SUBCOMMAND"] {
            if body.contains(gone) {
                r.warnings.push(format!(
                    "{shown}: uses {gone}, which dhow does not set (its hooks get DHOW_SERVICE, \
                     DHOW_VERSION, DHOW_HOSTS, ...)"
                ));
            }
        }
        if body
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("kamal "))
        {
            r.warnings.push(format!(
                "{shown}: runs `kamal ...`; change it to the dhow command"
            ));
        }
        write_new(&Path::new("hooks").join(name), &body, 0o755, &shown, r)?;
    }
    Ok(())
}

/// `KAMAL_VERSION` -> `DHOW_VERSION` for the variables dhow sets (longest names first, so
/// `KAMAL_SERVICE_VERSION` is not split).
fn rename_vars(text: &str) -> String {
    let mut s = text.to_string();
    for v in HOOK_VARS {
        s = s.replace(&format!("KAMAL_{v}"), &format!("DHOW_{v}"));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn hook_variables() {
        assert_eq!(
            super::rename_vars("echo $KAMAL_SERVICE_VERSION ${KAMAL_HOSTS} $KAMAL_COMMAND"),
            "echo $DHOW_SERVICE_VERSION ${DHOW_HOSTS} $KAMAL_COMMAND"
        );
    }
}
