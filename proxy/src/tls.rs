//! TLS termination: each service may carry a certificate (PEM files given at deploy), chosen
//! per connection by SNI from the current routing table, so a deploy that changes a
//! certificate takes effect for the next handshake without a restart. ALPN offers h2 and
//! http/1.1. A name no service has a certificate for gets the catch-all service's certificate,
//! if it has one; otherwise the handshake is refused.

use crate::forward::Proxy;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
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
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_path}: not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_path}: no certificate in it"));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{key_path}: not a PEM private key: {e}"))?
        .ok_or_else(|| format!("{key_path}: no private key in it"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{key_path}: unsupported private key: {e}"))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{key_path} does not belong to {cert_path}: {e}"))?;
    Ok(Arc::new(TlsCert {
        cert_path: cert_path.into(),
        key_path: key_path.into(),
        key: Arc::new(certified),
    }))
}

/// Picks the certificate for a handshake from the routing table.
pub struct SniResolver {
    proxy: Arc<Proxy>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.proxy.table.load();
        let name = hello.server_name().unwrap_or("");
        table
            .services
            .iter()
            .filter_map(|s| Some((s.host_rank(name)?, s.tls.as_ref()?)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, c)| c.key.clone())
    }
}

/// The server config: certificates by SNI, ALPN h2 then http/1.1.
pub fn server_config(proxy: Arc<Proxy>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(SniResolver { proxy }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
