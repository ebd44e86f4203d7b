//! Automatic certificates (ACME, RFC 8555). A service deployed with `acme` gets a certificate
//! for each of its host names from the configured directory (Let's Encrypt unless told
//! otherwise), proven by HTTP-01 or TLS-ALPN-01 answered by this proxy, saved in the state
//! directory and renewed before it expires. Until a host has one, its plain HTTP keeps being
//! served (no redirect to an HTTPS that cannot answer yet).

pub mod challenges;
mod der;
mod http;
pub mod order;
pub mod settings;
pub mod store;

use dhow_proxy_api::AcmeStatus;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

pub use settings::{Challenge, Settings};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// A host's certificate status, shown by `list`.
#[derive(Debug, Clone, Default)]
struct HostStatus {
    error: Option<String>,
    failures: u32,
    retry_at: Option<Instant>,
    obtaining: bool,
}

/// ACME state shared by the data plane (certificates, challenge answers) and the manager.
#[derive(Default)]
pub struct Acme {
    pub certs: store::Certs,
    pub challenges: challenges::Challenges,
    status: Mutex<HashMap<String, HostStatus>>,
    wake: tokio::sync::Notify,
    pub settings: OnceLock<Settings>,
}

/// Why `host` cannot have an ACME certificate, if it cannot.
pub fn unfit_host(host: &str) -> Option<String> {
    let ok = host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (!ok).then(|| {
        format!(
            "{host:?} cannot get an automatic certificate: ACME needs exact DNS names \
             (no wildcards, no IP addresses); give certificate files for it instead"
        )
    })
}

impl Acme {
    /// Load the saved certificates of the `wanted` hosts (before traffic starts). Returns
    /// problems for the log.
    pub fn load_stored(&self, wanted: &BTreeSet<String>) -> Vec<String> {
        let Some(settings) = self.settings.get() else {
            return Vec::new();
        };
        wanted
            .iter()
            .filter_map(|h| self.certs.load(&settings.dir, h).err())
            .collect()
    }

    /// A deploy wants certificates for `hosts` now: forget their back-off and wake the manager.
    pub fn want_now(&self, hosts: &[String]) {
        if let Ok(mut st) = self.status.lock() {
            for h in hosts {
                if let Some(s) = st.get_mut(h) {
                    s.retry_at = None;
                }
            }
        }
        self.wake.notify_one();
    }

    /// What `list` shows for `host`.
    pub fn describe(&self, host: &str) -> AcmeStatus {
        let st = self
            .status
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned())
            .unwrap_or_default();
        let cert = self.certs.get(host);
        let state = match (&cert, st.obtaining, &st.error) {
            (_, true, _) => AcmeStatus::OBTAINING,
            (Some(_), _, None) => AcmeStatus::VALID,
            (_, _, Some(_)) => AcmeStatus::FAILED,
            (None, _, None) => AcmeStatus::PENDING,
        };
        AcmeStatus {
            state: state.into(),
            expires: cert.map(|c| unix(c.not_after)),
            error: st.error,
            retry_in_s: st
                .retry_at
                .map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        }
    }

    fn due(&self, host: &str, renew_before: Duration) -> bool {
        let backing_off = self
            .status
            .lock()
            .ok()
            .and_then(|m| m.get(host).and_then(|s| s.retry_at))
            .is_some_and(|t| t > Instant::now());
        if backing_off {
            return false;
        }
        match self.certs.get(host) {
            None => true,
            Some(c) => c
                .not_after
                .duration_since(SystemTime::now())
                .map_or(true, |left| left < renew_before),
        }
    }

    fn set_status(&self, host: &str, f: impl FnOnce(&mut HostStatus)) {
        if let Ok(mut m) = self.status.lock() {
            f(m.entry(host.to_string()).or_default());
        }
    }

    fn next_retry(&self) -> Option<Instant> {
        self.status
            .lock()
            .ok()?
            .values()
            .filter_map(|s| s.retry_at)
            .min()
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn log(level: tracing::Level, host: &str, message: &str) {
    match level {
        tracing::Level::ERROR => tracing::error!(acme_host = host, "{message}"),
        tracing::Level::WARN => tracing::warn!(acme_host = host, "{message}"),
        _ => tracing::info!(acme_host = host, "{message}"),
    }
}

/// The manager: obtains missing certificates and renews due ones for the hosts `wanted`
/// returns (the current routes' ACME hosts), one host at a time, when a deploy asks, at every
/// check interval, and when a failed host's back-off ends.
pub async fn run(acme: Arc<Acme>, wanted: impl Fn() -> BTreeSet<String>) {
    let Some(settings) = acme.settings.get().cloned() else {
        return;
    };
    let mut account = None;
    loop {
        for host in wanted() {
            if !acme.certs.has(&host) {
                if let Err(e) = acme.certs.load(&settings.dir, &host) {
                    log(tracing::Level::ERROR, &host, &e);
                }
            }
            if acme.due(&host, settings.renew_before) {
                acme.obtain(&settings, &mut account, &host).await;
            }
        }
        let mut next = settings.check_interval;
        if let Some(t) = acme.next_retry() {
            next = next.min(t.saturating_duration_since(Instant::now()));
        }
        tokio::select! {
            _ = tokio::time::sleep(next.max(Duration::from_millis(100))) => {}
            _ = acme.wake.notified() => {}
        }
    }
}

impl Acme {
    /// Obtain (or renew) `host`'s certificate, the account made first if there is none yet;
    /// a failure is logged and backs the host off.
    async fn obtain(
        &self,
        settings: &Settings,
        account: &mut Option<instant_acme::Account>,
        host: &str,
    ) {
        self.set_status(host, |s| s.obtaining = true);
        let renewing = self.certs.has(host);
        log(
            tracing::Level::INFO,
            host,
            &format!(
                "{} a certificate for {host} from {} ({})",
                if renewing { "renewing" } else { "obtaining" },
                settings.directory,
                settings.challenge.name()
            ),
        );
        let work = async {
            if account.is_none() {
                *account = Some(order::account(settings).await?);
            }
            let Some(acct) = account.as_ref() else {
                return Err("no ACME account".to_string());
            };
            let (chain, key) =
                order::obtain(acct, settings.challenge, &self.challenges, host).await?;
            self.certs
                .store(&settings.dir, host, chain.as_bytes(), key.as_bytes())
        };
        let result = match tokio::time::timeout(Duration::from_secs(300), work).await {
            Ok(r) => r,
            Err(_) => Err("the ACME exchange took over 5 minutes".into()),
        };
        match result {
            Ok(issued) => {
                self.set_status(host, |s| *s = HostStatus::default());
                log(
                    tracing::Level::INFO,
                    host,
                    &format!(
                        "certificate for {host} obtained, valid until {} (unix time)",
                        unix(issued.not_after)
                    ),
                );
            }
            Err(e) => {
                let mut wait = Duration::ZERO;
                self.set_status(host, |s| {
                    s.obtaining = false;
                    s.failures += 1;
                    wait = backoff(s.failures);
                    s.retry_at = Some(Instant::now() + wait);
                    s.error = Some(e.clone());
                });
                log(
                    tracing::Level::ERROR,
                    host,
                    &format!(
                        "no certificate for {host}: {e}; check that {host} resolves to \
                         this server and that ports 80/443 reach the proxy; retrying in {}s",
                        wait.as_secs()
                    ),
                );
            }
        }
    }
}

/// 1 min, 2, 4, … up to 1 h between attempts for a failing host.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs((60u64 << failures.saturating_sub(1).min(6)).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_hosts_are_exact_dns_names() {
        for ok in ["app.example.com", "a-b.example.co.uk", "x1.test"] {
            assert_eq!(unfit_host(ok), None, "{ok}");
        }
        for bad in [
            "*.example.com",
            "localhost",
            "127.0.0.1",
            "a..b",
            "-a.b",
            "a_b.example.com",
            "../../etc.passwd",
        ] {
            assert!(unfit_host(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }
}
