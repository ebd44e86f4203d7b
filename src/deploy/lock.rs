//! The deploy lock: a directory on the primary host, created atomically with `mkdir`, holding
//! who took it, when, for which version and why. Two people deploying from two machines see
//! the same lock because it lives on the server.

use crate::error::{fail, Kind};
use crate::host::remote::Exec;
use crate::host::shell::quote;
use serde::{Deserialize, Serialize};

/// What is recorded in a lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub performer: String,
    pub locked_at: String,
    pub version: Option<String>,
    pub message: String,
}

/// The lock directory for a service (and destination), relative to the SSH user's home.
pub fn lock_dir(key: &str) -> String {
    format!(".dhow/locks/{key}")
}

/// Take the lock or fail naming the holder.
pub async fn acquire(host: &dyn Exec, key: &str, info: &LockInfo) -> anyhow::Result<()> {
    let dir = quote(&lock_dir(key));
    let cmd = format!(
        "mkdir -p .dhow/locks && mkdir {dir} 2>/dev/null && cat > {dir}/details.json || {{ echo locked; exit 75; }}"
    );
    let body = serde_json::to_vec(info)?;
    let out = host.exec(&cmd, Some(body)).await?;
    if out.success() {
        return Ok(());
    }
    if out.status == 75 {
        let holder = status(host, key).await?;
        return Err(fail(
            Kind::Locked,
            held_message(key, &host.label(), holder.as_ref()),
        ));
    }
    Err(fail(
        Kind::Remote,
        format!(
            "{}: could not take the deploy lock: {}",
            host.label(),
            out.stderr.trim()
        ),
    ))
}

/// The current lock holder, if any.
pub async fn status(host: &dyn Exec, key: &str) -> anyhow::Result<Option<LockInfo>> {
    let dir = quote(&lock_dir(key));
    let out = host
        .exec(
            &format!("[ -d {dir} ] || exit 3; cat {dir}/details.json 2>/dev/null"),
            None,
        )
        .await?;
    match out.status {
        0 => Ok(Some(serde_json::from_str(&out.stdout).unwrap_or(
            LockInfo {
                performer: "unknown".into(),
                locked_at: "unknown".into(),
                version: None,
                message: "(lock details unreadable)".into(),
            },
        ))),
        3 => Ok(None),
        _ => Err(fail(
            Kind::Remote,
            format!(
                "{}: could not read the deploy lock: {}",
                host.label(),
                out.stderr.trim()
            ),
        )),
    }
}

/// Release the lock (no error if it is not held).
pub async fn release(host: &dyn Exec, key: &str) -> anyhow::Result<()> {
    let out = host
        .exec(&format!("rm -rf {}", quote(&lock_dir(key))), None)
        .await?;
    if !out.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: could not release the deploy lock: {} (remove ~/.dhow/locks/{key} by hand)",
                host.label(),
                out.stderr.trim()
            ),
        ));
    }
    Ok(())
}

/// The message for a lock somebody else holds.
pub fn held_message(key: &str, host: &str, holder: Option<&LockInfo>) -> String {
    match holder {
        Some(h) => format!(
            "deploy lock for {key} is held on {host} by {} since {}{}: \"{}\". Wait for it, \
             use --lock-wait, or run `dhow lock release` if you are sure nobody is deploying",
            h.performer,
            h.locked_at,
            h.version
                .as_deref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default(),
            h.message
        ),
        None => format!("deploy lock for {key} is held on {host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::remote::LocalShell;

    fn info(who: &str) -> LockInfo {
        LockInfo {
            performer: who.into(),
            locked_at: "2026-11-22T10:00:00Z".into(),
            version: Some("v1".into()),
            message: "deploying v1".into(),
        }
    }

    #[tokio::test]
    async fn second_acquire_fails_naming_the_holder_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        acquire(&sh, "demo", &info("alice")).await.unwrap();
        assert_eq!(status(&sh, "demo").await.unwrap(), Some(info("alice")));
        let err = acquire(&sh, "demo", &info("bob")).await.unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Locked);
        assert!(format!("{err}").contains("held on local by alice"), "{err}");
        release(&sh, "demo").await.unwrap();
        assert_eq!(status(&sh, "demo").await.unwrap(), None);
        acquire(&sh, "demo", &info("bob")).await.unwrap();
    }
}
