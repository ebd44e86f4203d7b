//! An accessory's files and directories on a host, under ~/.dhow/<owner>/accessories/<name>/:
//! files go through the SSH channel's stdin (never a command line, since templates may hold
//! secrets), each written atomically with its mode and owner; directories are created so the
//! engine mounts them instead of making root-owned ones on its own.

use super::AccessorySettings;
use crate::error::{fail, Kind};
use crate::host::remote::Exec;
use crate::host::shell::quote;
use secrecy::ExposeSecret;

/// The SSH user's home on the host (bind mounts need absolute paths).
pub async fn home(shell: &dyn Exec) -> anyhow::Result<String> {
    let out = shell.exec("cd && pwd -P", None).await?;
    let home = out.stdout.trim().to_string();
    if !out.success() || !home.starts_with('/') {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: cannot find the home directory: {}",
                shell.label(),
                out.stderr.trim()
            ),
        ));
    }
    Ok(home)
}

/// Upload the files and create the directories. Returns what was placed, for the report.
pub async fn put(
    shell: &dyn Exec,
    a: &AccessorySettings,
    home: &str,
) -> anyhow::Result<Vec<String>> {
    let base = format!("{home}/{}", a.host_dir());
    run(
        shell,
        &format!(
            "{}mkdir -p {b} && chmod 700 {b}",
            crate::host::state_dir::prepare(&a.owner),
            b = quote(&base)
        ),
        None,
    )
    .await?;
    let mut placed = Vec::new();
    for f in &a.files {
        let path = a.host_file(home, f);
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        let tmp = format!("{path}.dhow-tmp");
        let chown = match &f.owner {
            Some(o) => format!(" && chown {} {}", quote(o), quote(&tmp)),
            None => String::new(),
        };
        // A path Docker once created as a directory (mounting a missing file) is replaced.
        let cmd = format!(
            "umask 077 && mkdir -p {d} && {{ [ ! -d {p} ] || rmdir {p}; }} && cat > {t} && chmod {m:o} {t}{chown} && mv -f {t} {p} || {{ rm -f {t}; exit 1; }}",
            d = quote(dir),
            p = quote(&path),
            t = quote(&tmp),
            m = f.mode,
        );
        run(
            shell,
            &cmd,
            Some(f.contents.expose_secret().as_bytes().to_vec()),
        )
        .await
        .map_err(|e| {
            let hint = if f.owner.is_some() {
                " (setting an owner needs root or passwordless sudo on the host)"
            } else {
                ""
            };
            fail(
                Kind::Remote,
                format!("{}: uploading {}: {e:#}{hint}", a.name, f.local),
            )
        })?;
        placed.push(format!("{} -> {}", f.local, f.container_path));
    }
    for (h, c) in &a.directories {
        let path = a.host_directory(home, h);
        run(shell, &format!("mkdir -p {}", quote(&path)), None).await?;
        placed.push(format!("{path} -> {c}"));
    }
    Ok(placed)
}

/// Remove the uploaded files (not the directories: they hold data). Returns the directories
/// that were kept.
pub async fn remove_files(
    shell: &dyn Exec,
    a: &AccessorySettings,
    home: &str,
) -> anyhow::Result<Vec<String>> {
    let base = format!("{home}/{}", a.host_dir());
    run(
        shell,
        &format!("rm -rf {}", quote(&format!("{base}/files"))),
        None,
    )
    .await?;
    // The accessory's own directory goes too when nothing else is left in it.
    let _ = shell
        .exec(&format!("rmdir {} 2>/dev/null", quote(&base)), None)
        .await;
    Ok(a.directories
        .iter()
        .map(|(h, _)| a.host_directory(home, h))
        .collect())
}

async fn run(shell: &dyn Exec, cmd: &str, stdin: Option<Vec<u8>>) -> anyhow::Result<()> {
    let out = shell.exec(cmd, stdin).await?;
    if !out.success() {
        return Err(fail(
            Kind::Remote,
            format!("{}: {}", shell.label(), out.stderr.trim()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::remote::LocalShell;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn files_and_directories_land_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        let home = dir.path().to_str().unwrap().to_string();
        let mut a = crate::accessory::tests::sample();
        a.files[0].mode = 0o640;
        let placed = put(&sh, &a, &home).await.unwrap();
        assert_eq!(placed.len(), 2);
        let f = a.host_file(&home, &a.files[0]);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "create table t();");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let d = a.host_directory(&home, "backups");
        assert!(std::path::Path::new(&d).is_dir());
        // Again: same result (a second boot rewrites files in place).
        put(&sh, &a, &home).await.unwrap();
        let kept = remove_files(&sh, &a, &home).await.unwrap();
        assert!(!std::path::Path::new(&f).exists());
        assert_eq!(kept, vec![d.clone()]);
        assert!(
            std::path::Path::new(&d).is_dir(),
            "data directories are kept"
        );
    }
}
