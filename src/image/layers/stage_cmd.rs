//! The shell commands layer staging runs on a host: appending a layer's bytes to its staged
//! file and checking it by digest, each under the layer's lock so two deliveries (two apps
//! sharing a base layer) never write one file at once. The one that finds the lock taken
//! exits 75 and its caller falls back to the engine pull. Kept apart from `stage` so the
//! commands can be run by a local shell in tests.

use super::stage::DIR;

/// A path below [`DIR`] for the shell: digests are hex, so nothing needs quoting; anything else
/// is single-quoted.
pub(super) fn quote(path: &str) -> String {
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'))
    {
        path.to_string()
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}

/// Append stdin to layer `h`'s staged file from byte `from` (a file of another size is not
/// appended to: `>` starts it again from 0), then, when it has all `size` bytes, check and
/// name it. A cut connection ends stdin early: the shorter file stays for the next run.
pub(super) fn store(h: &str, from: u64, size: u64) -> String {
    let part = quote(&format!("{DIR}/{h}.part"));
    let append = if from == 0 {
        format!("cat > {part}")
    } else {
        format!("[ \"$(wc -c < {part})\" -eq {from} ] && cat >> {part}")
    };
    let short = "echo \"the layer's upload ended after $n of {size} bytes\" >&2; exit 1";
    locked(
        h,
        &format!(
            "{append} && n=$(wc -c < {part}) && if [ \"$n\" -eq {size} ]; then {}; \
             else {short}; fi",
            verify(h)
        ),
    )
}

/// Check a fully staged file of layer `h` and name it.
pub(super) fn check(h: &str) -> String {
    locked(h, &verify(h))
}

fn verify(h: &str) -> String {
    let part = quote(&format!("{DIR}/{h}.part"));
    format!(
        "d=$(sha256sum < {part} | cut -c1-64); if [ \"$d\" = {h} ]; then mv -f {part} {whole}; \
         else rm -f {part}; echo \"the staged layer's digest is $d\" >&2; exit 1; fi",
        whole = quote(&format!("{DIR}/{h}"))
    )
}

/// `body` under an exclusive, non-waiting lock on layer `h` (where the host has `flock`).
fn locked(h: &str, body: &str) -> String {
    format!(
        "exec 9>> {lock} || exit 1; if command -v flock >/dev/null && ! flock -n 9; then \
         echo 'another delivery is staging this layer right now' >&2; exit 75; fi; {body}",
        lock = quote(&format!("{DIR}/{h}.lock"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn sh(dir: &std::path::Path, cmd: &str, stdin: &[u8]) -> (i32, String) {
        let mut child = Command::new("sh")
            .args(["-c", cmd])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh");
        child.stdin.take().expect("stdin").write_all(stdin).ok();
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code().unwrap_or(-1), err)
    }

    #[test]
    fn a_layer_is_stored_in_two_parts_and_named_when_its_digest_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(DIR)).expect("mkdir");
        let data = b"hello staged layer".repeat(100);
        let h = hex::encode(Sha256::digest(&data));
        let n = data.len() as u64;
        assert_eq!(
            sh(dir.path(), &store(&h, 0, n), &data[..500]).0,
            1,
            "half is not whole"
        );
        // A cut upload keeps what arrived; the next one resumes from there.
        let part = dir.path().join(DIR).join(format!("{h}.part"));
        assert_eq!(std::fs::read(&part).expect("part").len(), 500);
        let (code, err) = sh(dir.path(), &store(&h, 500, n), &data[500..]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            std::fs::read(dir.path().join(DIR).join(&h)).expect("whole"),
            data
        );
        // From a wrong offset nothing is appended.
        std::fs::write(&part, &data[..100]).expect("write part");
        assert_ne!(sh(dir.path(), &store(&h, 500, n), &data[500..]).0, 0);
        assert_eq!(std::fs::read(&part).expect("part").len(), 100);
        // Whole but wrong: removed.
        let (code, err) = sh(dir.path(), &store(&h, 0, n), &vec![b'x'; data.len()]);
        assert_eq!(code, 1);
        assert!(err.contains("digest"), "{err}");
        assert!(!part.exists());
    }

    #[test]
    fn a_second_delivery_of_the_same_layer_is_refused_while_the_first_holds_its_lock() {
        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("no flock command here: the lock is skipped, as on such hosts");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(DIR)).expect("mkdir");
        let h = "ab".repeat(32);
        let lock = dir.path().join(DIR).join(format!("{h}.lock"));
        let mut holder = Command::new("flock")
            .arg(&lock)
            .args(["sleep", "30"])
            .spawn()
            .expect("flock");
        // Wait until the holder has the lock.
        for _ in 0..100 {
            let probe = Command::new("flock")
                .args(["-n"])
                .arg(&lock)
                .arg("true")
                .status();
            if probe.map(|s| !s.success()).unwrap_or(false) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (code, err) = sh(dir.path(), &store(&h, 0, 4), b"data");
        holder.kill().ok();
        holder.wait().ok();
        assert_eq!(code, 75, "{err}");
        assert!(err.contains("another delivery"), "{err}");
        assert!(!dir.path().join(DIR).join(format!("{h}.part")).exists());
    }
}
