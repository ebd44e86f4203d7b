//! Choosing a certificate per TLS handshake by SNI. The choice is asked of a
//! [`CertificateSource`] (the proxy's current routing table and its ACME certificates), so a
//! deploy that changes a certificate takes effect for the next handshake without a restart.
//! ALPN offers h2 and http/1.1; a handshake offering `acme-tls/1` gets the open TLS-ALPN-01
//! challenge's certificate. A name no service has a certificate for gets the catch-all
//! service's certificate, if it has one; otherwise the handshake is refused.
//!
//! Where a full handshake's time goes (perf on the release build, h2load `--h1 -H
//! 'Connection: close'`, 2-core VM, 2026-12-03): about 25% of the proxy's samples are the
//! cryptography (X25519, P-256 signing, SHA-256, AES-GCM; ring), about 42% the kernel (accept,
//! the TCP handshake and close, epoll, the request to the target), 7% malloc/free/memmove, and
//! the rest is spread thin: the resolver below and rustls' encoding of the certificate chain
//! (`with_certified_key`) are under 1% each, with nothing per connection cloned from the
//! config (one `Arc<ServerConfig>` per acceptor). `make bench-proxy` measures the server's
//! CPU per handshake beside nginx's and haproxy's (bench/proxy_conns.sh).

use crate::acme::challenges::ACME_TLS_ALPN;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// Where the resolver finds certificates, asked at each handshake (names in lower case).
pub trait CertificateSource: Send + Sync {
    /// The TLS-ALPN-01 validation certificate for `name`, while an order waits for it.
    fn challenge(&self, name: &str) -> Option<Arc<CertifiedKey>>;
    /// The certificate of the service that serves `name`.
    fn certificate(&self, name: &str) -> Option<Arc<CertifiedKey>>;
}

/// Picks the certificate for a handshake from a [`CertificateSource`].
pub struct SniResolver {
    source: Arc<dyn CertificateSource>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // The same host rule as routing and redirects (lower case, no port).
        let name = crate::policy::host::key(hello.server_name().unwrap_or("")).into_owned();
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN))
        {
            return self.source.challenge(&name);
        }
        self.source.certificate(&name)
    }
}

/// The server config: certificates by SNI, ALPN h2 then http/1.1.
/// TLS 1.2 sessions kept for resumption by session ID.
const SESSION_CACHE: usize = 20_000;

pub fn server_config(
    source: Arc<dyn CertificateSource>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(SniResolver { source }));
    // acme-tls/1 only ever meets an ACME server's TLS-ALPN-01 validation (RFC 8737).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    // Returning clients skip the full handshake: stateless tickets (keys rotated by rustls'
    // ticketer, every 6 hours), and a session cache for TLS 1.2 session IDs larger than
    // rustls' default 256 entries (a few hundred bytes each).
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Arc::new(config))
}
