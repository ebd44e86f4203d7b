//! Answers to ACME challenges while an order is open: HTTP-01 tokens (served on the plain HTTP
//! port under /.well-known/acme-challenge/) and TLS-ALPN-01 certificates (served to handshakes
//! that offer only the `acme-tls/1` protocol, RFC 8737).

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The ALPN protocol of TLS-ALPN-01 validation handshakes.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The path prefix of HTTP-01 validation requests.
pub const HTTP_PREFIX: &str = "/.well-known/acme-challenge/";

#[derive(Default)]
pub struct Challenges {
    http: Mutex<HashMap<String, String>>,
    alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    /// The key authorization for an HTTP-01 token, if an order is waiting for it.
    pub fn http(&self, token: &str) -> Option<String> {
        self.http.lock().ok()?.get(token).cloned()
    }

    pub fn put_http(&self, token: &str, key_authorization: &str) {
        if let Ok(mut m) = self.http.lock() {
            m.insert(token.to_string(), key_authorization.to_string());
        }
    }

    pub fn remove_http(&self, token: &str) {
        if let Ok(mut m) = self.http.lock() {
            m.remove(token);
        }
    }

    /// The TLS-ALPN-01 certificate for `host`, if an order is waiting for it.
    pub fn alpn(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn
            .lock()
            .ok()?
            .get(&host.to_ascii_lowercase())
            .cloned()
    }

    /// Make and hold the validation certificate for `host` from the key authorization's
    /// SHA-256 digest.
    pub fn put_alpn(&self, host: &str, digest: &[u8]) -> Result<(), String> {
        let key = alpn_certificate(host, digest)?;
        if let Ok(mut m) = self.alpn.lock() {
            m.insert(host.to_ascii_lowercase(), key);
        }
        Ok(())
    }

    pub fn remove_alpn(&self, host: &str) {
        if let Ok(mut m) = self.alpn.lock() {
            m.remove(&host.to_ascii_lowercase());
        }
    }
}

/// A self-signed certificate for `host` with the critical acmeIdentifier extension.
fn alpn_certificate(host: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    if digest.len() != 32 {
        return Err("the key authorization digest is not SHA-256".into());
    }
    let mut params =
        rcgen::CertificateParams::new(vec![host.to_string()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| e.to_string())?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_certificates_come_and_go() {
        let c = Challenges::default();
        c.put_http("tok", "tok.thumb");
        assert_eq!(c.http("tok").as_deref(), Some("tok.thumb"));
        c.remove_http("tok");
        assert_eq!(c.http("tok"), None);
        c.put_alpn("App.Example.com", &[7u8; 32]).unwrap();
        let key = c.alpn("app.example.com").unwrap();
        // The acmeIdentifier extension's OID (1.3.6.1.5.5.7.1.31) and the digest are in it.
        let der = key.cert[0].as_ref();
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        assert!(der.windows(oid.len()).any(|w| w == oid));
        assert!(der.windows(32).any(|w| w == [7u8; 32]));
        c.remove_alpn("app.example.com");
        assert!(c.alpn("app.example.com").is_none());
        assert!(c.put_alpn("x.test", &[1u8; 20]).is_err());
    }
}
