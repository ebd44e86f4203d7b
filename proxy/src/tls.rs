//! TLS termination: each service may carry a certificate (PEM files given at deploy), chosen
//! per connection by SNI from the current routing table, so a deploy that changes a
//! certificate takes effect for the next handshake without a restart. ALPN offers h2 and
//! http/1.1. A name no service has a certificate for gets the catch-all service's certificate,
//! if it has one; otherwise the handshake is refused.

use crate::acme::challenges::ACME_TLS_ALPN;
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
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_label}: not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_label}: no certificate in it"));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("{key_label}: not a PEM private key: {e}"))?
        .ok_or_else(|| format!("{key_label}: no private key in it"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{key_label}: unsupported private key: {e}"))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{key_label} does not belong to {cert_label}: {e}"))?;
    Ok(certified)
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
        let name = hello.server_name().unwrap_or("").to_ascii_lowercase();
        let acme = &self.proxy.acme;
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN))
        {
            return acme.challenges.alpn(&name);
        }
        let table = self.proxy.table.load();
        table
            .services
            .iter()
            .filter_map(|s| {
                let rank = s.host_rank(&name)?;
                match &s.tls {
                    Some(c) => Some((rank, c.key.clone())),
                    None if s.acme => Some((rank, acme.certs.get(&name)?.key)),
                    None => None,
                }
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, key)| key)
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
    // acme-tls/1 only ever meets an ACME server's TLS-ALPN-01 validation (RFC 8737).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(config))
}
