//! Certificates from PEM: a service's certificate files given at deploy (read again at
//! start), and the parsing every certificate goes through, ACME's included.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// A service's certificate and where it was read from (saved in the state file).
pub struct TlsCert {
    pub cert_path: String,
    pub key_path: String,
    pub key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for TlsCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish()
    }
}

/// Read a PEM certificate chain and private key.
pub fn load(cert_path: &str, key_path: &str) -> Result<Arc<TlsCert>, String> {
    let read = |p: &str| std::fs::read(Path::new(p)).map_err(|e| format!("cannot read {p}: {e}"));
    let key = parse(&read(cert_path)?, &read(key_path)?, cert_path, key_path)?;
    Ok(Arc::new(TlsCert {
        cert_path: cert_path.into(),
        key_path: key_path.into(),
        key: Arc::new(key),
    }))
}

/// A certificate chain and its private key from PEM; errors name the two by their labels.
pub fn parse(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_label: &str,
    key_label: &str,
) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_label}: not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_label}: no certificate in it"));
    }
    let key: PrivateKeyDer<'static> = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => return Err(format!("{key_label}: no private key in it")),
        Err(e) => return Err(format!("{key_label}: not a PEM private key: {e}")),
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{key_label}: unsupported private key: {e}"))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{key_label} does not belong to {cert_label}: {e}"))?;
    Ok(certified)
}
