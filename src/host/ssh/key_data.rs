//! Private keys given as secrets (`ssh.key_data`, like Kamal's): decoded in memory and
//! offered after the agent's keys, never written to disk. Neither `Debug` nor an error
//! shows the key: only the secret's name and the key's type and fingerprint.

use russh::keys::PrivateKey;
use std::sync::Arc;

/// One in-memory private key and the secret it came from.
#[derive(Clone)]
pub struct KeyData {
    pub name: String,
    pub key: Arc<PrivateKey>,
}

impl std::fmt::Debug for KeyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyData({}, {})", self.name, self.key.algorithm())
    }
}

impl KeyData {
    /// Decode the secret `name`'s value (OpenSSH or PEM; a one-line value may use `\n`
    /// escapes, as CI variables often do). Encrypted keys are refused.
    pub fn decode(name: &str, value: &str) -> anyhow::Result<KeyData> {
        let text = if !value.contains('\n') && value.contains("\\n") {
            value.replace("\\n", "\n")
        } else {
            value.to_string()
        };
        match russh::keys::decode_secret_key(&text, None) {
            Ok(key) => Ok(KeyData {
                name: name.to_string(),
                key: Arc::new(key),
            }),
            Err(russh::keys::Error::KeyIsEncrypted) => anyhow::bail!(
                "ssh.key_data: the key in secret {name} is encrypted with a passphrase; \
                 give an unencrypted key (e.g. a deploy key made for CI)"
            ),
            Err(_) => anyhow::bail!(
                "ssh.key_data: secret {name} does not hold a private key dhow can read \
                 (OpenSSH `-----BEGIN OPENSSH PRIVATE KEY-----` or PEM)"
            ),
        }
    }

    /// How the key is named in messages: secret name and key type.
    pub fn shown(&self) -> String {
        format!("key_data {} ({})", self.name, self.key.algorithm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh unencrypted ed25519 key from `ssh-keygen`.
    fn keygen() -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn bad_values_are_refused_without_showing_them() {
        let err = KeyData::decode("DEPLOY_KEY", "hunter2-not-a-key").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("secret DEPLOY_KEY"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn a_key_decodes_also_from_escaped_newlines_and_debug_hides_it() {
        let text = keygen();
        let k = KeyData::decode("K", &text).unwrap();
        let k2 = KeyData::decode("K", &text.replace('\n', "\\n")).unwrap();
        assert_eq!(k.key.public_key(), k2.key.public_key());
        assert_eq!(format!("{k:?}"), "KeyData(K, ssh-ed25519)");
        assert_eq!(k.shown(), "key_data K (ssh-ed25519)");
    }
}
