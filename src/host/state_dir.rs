//! The app's directory on a host, `~/.dhow/<key>/` (env files, audit log, accessory files and
//! data), claimed by an owner file holding the key: a directory another app claimed is never
//! written to. An older dhow named some directories differently (names.rs); when
//! the new name does not exist yet and the old directory was claimed by nobody, the new name
//! becomes a symlink to it, so containers that mount the old paths keep their data and both
//! paths lead to the same files. Every command that writes below the directory starts with
//! [`prepare`].

use super::names::legacy_key;
use crate::host::shell::quote;

/// The owner file: holds the key of the app that claimed the directory.
pub const OWNER_FILE: &str = ".dhow-owner";

/// Exit status of [`prepare`] when another app claimed the directory.
pub const CLAIMED: u32 = 76;

/// The directory for `key`, relative to the SSH user's home.
pub fn dir(key: &str) -> String {
    format!(".dhow/{key}")
}

/// A shell fragment (ending in `&&`) that makes `~/.dhow/<key>` exist and claimed by `key`
/// (adopting an older dhow's unclaimed directory), or exits [`CLAIMED`] saying whose it is.
pub fn prepare(key: &str) -> String {
    let d = quote(&dir(key));
    let owner = quote(&format!("{}/{OWNER_FILE}", dir(key)));
    let legacy = legacy_key(key);
    let adopt = if legacy == key {
        String::new()
    } else {
        let l = quote(&dir(&legacy));
        let lo = quote(&format!("{}/{OWNER_FILE}", dir(&legacy)));
        format!(
            "{{ [ -e {d} ] || [ ! -d {l} ] || [ -L {l} ] || [ -e {lo} ] || ln -s {ln} {d}; }} && ",
            ln = quote(&legacy)
        )
    };
    format!(
        "{adopt}mkdir -p {d} && {{ [ -e {owner} ] || printf '%s\\n' {k} > {owner}; }} && \
         {{ [ \"$(cat {owner})\" = {k} ] || {{ echo \"~/{dir} belongs to the app whose key is \
         $(cat {owner}), not {key}: rename the service or destination so their names differ\" >&2; \
         exit {CLAIMED}; }}; }} && ",
        k = quote(key),
        dir = dir(key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::names::state_key;
    use crate::host::remote::{Exec, LocalShell};

    async fn run(sh: &LocalShell, key: &str) {
        let out = sh
            .exec(&format!("{}true", prepare(key)), None)
            .await
            .unwrap();
        assert!(out.success(), "{}", out.stderr);
    }

    #[tokio::test]
    async fn an_unclaimed_old_directory_is_adopted_a_claimed_one_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: tmp.path().into(),
        };
        let home = tmp.path();
        // An older dhow kept service demo-x's files in ~/.dhow/demo-x.
        std::fs::create_dir_all(home.join(".dhow/demo-x/accessories/db/data")).unwrap();
        run(&sh, &state_key("demo-x", None)).await;
        // Both paths lead to the same files (a stopped container mounting the old path
        // still finds its data).
        assert!(home.join(".dhow/demo--x/accessories/db/data").is_dir());
        assert!(home.join(".dhow/demo-x/accessories/db/data").is_dir());
        // demo with -d x, whose directory is ~/.dhow/demo-x, is refused: demo-x claimed it.
        let out = sh
            .exec(
                &format!("{}true", prepare(&state_key("demo", Some("x")))),
                None,
            )
            .await
            .unwrap();
        assert_eq!(out.status, CLAIMED, "{}", out.stderr);
        assert!(out.stderr.contains("demo--x"), "{}", out.stderr);
        // A directory this dhow made and claimed is never adopted.
        let tmp2 = tempfile::tempdir().unwrap();
        let sh2 = LocalShell {
            dir: tmp2.path().into(),
        };
        run(&sh2, &state_key("demo", Some("x"))).await;
        run(&sh2, &state_key("demo-x", None)).await;
        let own = |k: &str| std::fs::read_to_string(tmp2.path().join(k).join(OWNER_FILE)).unwrap();
        assert_eq!(own(".dhow/demo-x"), "demo-x\n");
        assert_eq!(own(".dhow/demo--x"), "demo--x\n");
        assert!(!tmp2.path().join(".dhow/demo--x").is_symlink());
    }
}
