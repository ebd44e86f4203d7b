//! The deploy lock: a directory on the primary host, created atomically with `mkdir`, holding
//! who took it, when, for which version and why. Two people deploying from two machines see
//! the same lock because it lives on the server. A lock records the machine and process that
//! took it, so `lock status` can say who, where and how long ago; a lock whose holder file
//! could not be written is removed again, never left behind empty.

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
    /// The machine dhow ran on when it took the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// That dhow process's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When, in seconds since the epoch (for the age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_at_unix: Option<i64>,
}

impl LockInfo {
    /// A lock for `message` taken now by `performer` from this machine and process.
    pub fn now(
        performer: String,
        locked_at: String,
        version: Option<String>,
        message: String,
    ) -> Self {
        LockInfo {
            performer,
            locked_at,
            version,
            message,
            machine: this_machine(),
            pid: Some(std::process::id()),
            locked_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as i64),
        }
    }

    /// Is this lock held by `performer` (the same person, from any machine)?
    pub fn held_by(&self, performer: &str) -> bool {
        self.performer == performer
    }
}

/// This machine's host name.
fn this_machine() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // (or truncates, which the NUL search below handles).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// `3m` / `2h 5m` / `4d 1h` since `at` (seconds since the epoch).
fn age(at: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let s = (now - at).max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The lock directory for a service (and destination), relative to the SSH user's home.
pub fn lock_dir(key: &str) -> String {
    format!(".dhow/locks/{key}")
}

/// The shell command that takes the lock (exit 75: held): the holder file comes from stdin,
/// and when it cannot be written the lock goes again.
fn acquire_cmd(key: &str) -> String {
    let dir = quote(&lock_dir(key));
    format!(
        "mkdir -p .dhow/locks || exit 1; mkdir {dir} 2>/dev/null || {{ echo locked; exit 75; }}; \
         cat > {dir}/details.json || {{ rm -rf {dir}; exit 1; }}"
    )
}

/// Take the lock or fail naming the holder.
pub async fn acquire(host: &dyn Exec, key: &str, info: &LockInfo) -> anyhow::Result<()> {
    let cmd = acquire_cmd(key);
    let body = serde_json::to_vec(info)?;
    let out = host
        .exec_step("take the deploy lock", &cmd, Some(body))
        .await?;
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
        .exec_step(
            "read the deploy lock",
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
                machine: None,
                pid: None,
                locked_at_unix: None,
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

/// Release a lock somebody holds: refused when it is not `performer`'s, unless `force`.
pub async fn release_as(
    host: &dyn Exec,
    key: &str,
    performer: &str,
    force: bool,
) -> anyhow::Result<()> {
    if !force {
        if let Some(h) = status(host, key).await? {
            if !h.held_by(performer) {
                return Err(fail(
                    Kind::Locked,
                    format!(
                        "{}; it is not yours ({performer}): release it with --force if you are \
                         sure nobody is deploying",
                        held_message(key, &host.label(), Some(&h))
                            .split(". Wait")
                            .next()
                            .unwrap_or_default()
                    ),
                ));
            }
        }
    }
    release(host, key).await
}

/// Release the lock (no error if it is not held).
pub async fn release(host: &dyn Exec, key: &str) -> anyhow::Result<()> {
    let out = host
        .exec_step(
            "release the deploy lock",
            &format!("rm -rf {}", quote(&lock_dir(key))),
            None,
        )
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
            "deploy lock for {key} is held on {host} by {}{} since {}{}{}: \"{}\". Wait for it, \
             use --lock-wait, or run `dhow lock release --force` if you are sure nobody is \
             deploying",
            h.performer,
            match (&h.machine, h.pid) {
                (Some(m), Some(p)) => format!(" (on {m}, pid {p})"),
                (Some(m), None) => format!(" (on {m})"),
                _ => String::new(),
            },
            h.locked_at,
            h.locked_at_unix
                .map(|t| format!(" ({} ago)", age(t)))
                .unwrap_or_default(),
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
            machine: None,
            pid: None,
            locked_at_unix: None,
        }
    }

    #[tokio::test]
    async fn a_lock_without_its_holder_file_is_not_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        // The holder file cannot be written (a full disk): `cat` fails.
        let cmd = format!("cat() {{ return 1; }}; {}", acquire_cmd("demo"));
        let out = sh.exec(&cmd, Some(b"{}".to_vec())).await.unwrap();
        assert_eq!(out.status, 1);
        assert!(
            !dir.path().join(".dhow/locks/demo").exists(),
            "the half-taken lock must be gone"
        );
        acquire(&sh, "demo", &info("bob")).await.unwrap();
    }

    #[tokio::test]
    async fn status_says_where_and_how_long_and_release_by_another_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        let held = LockInfo::now(
            "alice".into(),
            "2026-11-22T10:00:00Z".into(),
            None,
            "hold".into(),
        );
        acquire(&sh, "demo", &held).await.unwrap();
        let got = status(&sh, "demo").await.unwrap().unwrap();
        let msg = held_message("demo", "h1", Some(&got));
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("s ago)"), "{msg}");
        assert!(got.machine.is_some(), "{got:?}");
        let err = release_as(&sh, "demo", "bob", false).await.unwrap_err();
        assert!(format!("{err}").contains("--force"), "{err}");
        assert!(status(&sh, "demo").await.unwrap().is_some());
        release_as(&sh, "demo", "alice", false).await.unwrap();
        acquire(&sh, "demo", &held).await.unwrap();
        release_as(&sh, "demo", "bob", true).await.unwrap();
        assert_eq!(status(&sh, "demo").await.unwrap(), None);
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
