//! The HTTPS transport for the ACME client: Mozilla's root certificates compiled in (the
//! proxy's image has no /etc/ssl), or the PEM roots given with `--acme-ca-root` (a private or
//! test CA such as Pebble's). Every request, body included, has a deadline.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct AcmeHttp {
    client: Client<Https, BodyWrapper<Bytes>>,
    timeout: Duration,
}

impl AcmeHttp {
    /// A client trusting `ca_root` (PEM) if given, else the built-in Mozilla roots.
    pub fn new(ca_root: Option<&Path>, timeout: Duration) -> Result<AcmeHttp, String> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_root {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("--acme-ca-root {}: {e}", path.display()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!("{}: no PEM certificate in it", path.display()));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(AcmeHttp {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: hyper::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let url = req.uri().to_string();
        let sent = self.client.request(req);
        let limit = self.timeout;
        Box::pin(async move {
            let work = async {
                let resp = sent.await.map_err(|e| Error::Other(Box::new(e)))?;
                let (parts, body) = resp.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map_err(|e| Error::Other(Box::new(e)))?
                    .to_bytes();
                Ok(BytesResponse::from(hyper::Response::from_parts(
                    parts,
                    Full::new(bytes),
                )))
            };
            match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => Err(Error::Other(
                    format!("no answer from {url} within {}s", limit.as_secs()).into(),
                )),
            }
        })
    }
}
