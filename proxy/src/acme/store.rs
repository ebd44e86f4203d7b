//! Certificates obtained through ACME: kept in memory for handshakes (a lock-free map swapped
//! on change) and on disk in the proxy's state directory, `acme/certs/<host>/{cert,key}.pem`
//! (key mode 0600), so a restarted proxy serves them at once and renews only when due.

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One host's certificate.
#[derive(Clone)]
pub struct Issued {
    pub key: Arc<CertifiedKey>,
    pub not_after: SystemTime,
}

#[derive(Default)]
pub struct Certs {
    map: ArcSwap<HashMap<String, Issued>>,
}

impl Certs {
    pub fn get(&self, host: &str) -> Option<Issued> {
        self.map.load().get(host).cloned()
    }

    pub fn has(&self, host: &str) -> bool {
        self.map.load().contains_key(host)
    }

    fn insert(&self, host: &str, issued: Issued) {
        self.map.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(host.to_string(), issued.clone());
            m
        });
    }

    /// Load `host`'s certificate from `dir` if there is one. Errors say which file is wrong.
    pub fn load(&self, dir: &Path, host: &str) -> Result<bool, String> {
        let (cert_path, key_path) = paths(dir, host);
        let cert = match std::fs::read(&cert_path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("cannot read {}: {e}", cert_path.display())),
        };
        let key = std::fs::read(&key_path)
            .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
        self.insert(host, issued(&cert, &key, &cert_path, &key_path)?);
        Ok(true)
    }

    /// Save a new certificate for `host` in `dir` and serve it from the next handshake on.
    /// Checked, then saved, then served: one that could not be saved is not served (it would
    /// be gone after a restart while `list` said the order failed).
    pub fn store(&self, dir: &Path, host: &str, cert: &[u8], key: &[u8]) -> Result<Issued, String> {
        let (cert_path, key_path) = paths(dir, host);
        let issued = issued(cert, key, &cert_path, &key_path)?;
        crate::atomic_file::write(&key_path, key, 0o600)
            .and_then(|_| crate::atomic_file::write(&cert_path, cert, 0o644))
            .map_err(|e| {
                format!(
                    "cannot save the certificate of {host} in {}: {e}",
                    dir.display()
                )
            })?;
        self.insert(host, issued.clone());
        Ok(issued)
    }
}

/// Parse a chain and its key (named by their paths in errors) and read the leaf's expiry.
fn issued(cert: &[u8], key: &[u8], cert_path: &Path, key_path: &Path) -> Result<Issued, String> {
    let (c, k) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let certified = crate::tls::cert::parse(cert, key, &c, &k)?;
    let not_after = certified
        .cert
        .first()
        .and_then(|leaf| super::der::not_after(leaf.as_ref()))
        .ok_or_else(|| format!("{c}: cannot read the certificate's expiry"))?;
    Ok(Issued {
        key: Arc::new(certified),
        not_after,
    })
}

fn paths(dir: &Path, host: &str) -> (PathBuf, PathBuf) {
    let d = dir.join("certs").join(host);
    (d.join("cert.pem"), d.join("key.pem"))
}
