//! How the proxy obtains certificates (`dhow-proxy run --acme-*`): the directory, the
//! contact, the challenge it answers, when it renews, and where it keeps what it gets.

use std::path::PathBuf;
use std::time::Duration;

/// Which challenge this proxy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Http01,
    TlsAlpn01,
}

impl Challenge {
    pub fn parse(s: &str) -> Result<Challenge, String> {
        match s {
            "http-01" => Ok(Challenge::Http01),
            "tls-alpn-01" => Ok(Challenge::TlsAlpn01),
            _ => Err(format!("{s:?}: expected http-01 or tls-alpn-01")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// How the proxy obtains certificates (`dhow-proxy run --acme-*`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub directory: String,
    pub email: Option<String>,
    /// PEM roots to trust for the directory instead of the built-in ones.
    pub ca_root: Option<PathBuf>,
    pub challenge: Challenge,
    pub renew_before: Duration,
    pub check_interval: Duration,
    /// Where the account and certificates are kept (`<state dir>/acme`).
    pub dir: PathBuf,
}
