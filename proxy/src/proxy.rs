//! The proxy's shared state, one per process and shared by every data-plane thread and the
//! control plane: the routing table (swapped atomically), the client for targets, the limits,
//! the forwarding rules (trusted senders, allowed upgrades), the counters, the HTTPS port, the ACME state and the
//! request id generator. It is also where TLS handshakes find their certificates.

use crate::acme::Acme;
use crate::limits::Limits;
use crate::policy::forwarded::Rules;
use crate::policy::RequestIds;
use crate::router::Table;
use crate::stats::ProxyStats;
use crate::tls::sni::CertificateSource;
use crate::upstream_client::{self, UpstreamClient};
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

/// Shared state of the data plane.
pub struct Proxy {
    pub table: ArcSwap<Table>,
    pub client: UpstreamClient,
    pub limits: Limits,
    /// Whose X-Forwarded-* are kept (trusted balancers) and which upgrades pass.
    pub rules: Rules,
    pub log: bool,
    pub metrics: ProxyStats,
    /// Bumped on every table change; paused requests wait on it.
    changed: watch::Sender<u64>,
    /// The HTTPS port clients use (set when the proxy listens for HTTPS); plain-HTTP requests
    /// to a service with a certificate are redirected there.
    pub https_port: OnceLock<u16>,
    /// Automatic certificates: obtained ones and open challenges.
    pub acme: Arc<Acme>,
    /// How connections end once the proxy stops or hands over (see `drain.rs`).
    pub drain: crate::drain::Drain,
    ids: RequestIds,
}

impl Proxy {
    pub fn new(table: Table, log: bool) -> Arc<Proxy> {
        Proxy::with_limits(table, log, Limits::default(), Rules::default())
    }

    pub fn with_limits(table: Table, log: bool, limits: Limits, rules: Rules) -> Arc<Proxy> {
        Arc::new(Proxy {
            table: ArcSwap::from_pointee(table),
            client: upstream_client::build(),
            limits,
            rules,
            log,
            metrics: ProxyStats::default(),
            changed: watch::channel(0).0,
            https_port: OnceLock::new(),
            acme: Arc::default(),
            drain: crate::drain::Drain::default(),
            ids: RequestIds::default(),
        })
    }

    /// Swap in a new routing table and wake requests waiting on a paused service.
    pub fn publish(&self, table: Table) {
        self.table.store(Arc::new(table));
        self.changed.send_modify(|n| *n += 1);
    }

    /// Changes once the table has changed (see `publish`).
    pub fn table_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Append a new request id to `into`.
    #[inline]
    pub fn write_request_id(&self, into: &mut String) {
        self.ids.write(into);
    }
}

impl CertificateSource for Proxy {
    fn challenge(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.acme.challenges.alpn(name)
    }

    fn certificate(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.table.load().certificate_for(name, &self.acme.certs)
    }
}
