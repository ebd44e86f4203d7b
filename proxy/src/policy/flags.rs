//! The `dhow-proxy run` flags that set the forwarding rules (flattened into its arguments):
//! which senders are trusted with forwarding headers, which upgrades are passed on.

use super::forwarded::{Rules, Trust};
use super::upgrade::Upgrades;

#[derive(clap::Args, Debug, Clone)]
pub struct RulesFlags {
    /// Trust every sender's X-Forwarded-*/Forwarded (only behind a load balancer you trust);
    /// the same as --trusted-proxies 0.0.0.0/0,::/0.
    #[arg(long)]
    pub trust_forwarded: bool,
    /// Senders whose X-Forwarded-*/Forwarded headers are kept, as addresses and CIDR ranges,
    /// e.g. 10.0.0.0/8,127.0.0.1 (a CDN or load balancer in front). The client address
    /// (X-Real-IP) is then the rightmost X-Forwarded-For hop that is not one of them.
    #[arg(long, value_parser = Trust::parse)]
    pub trusted_proxies: Option<Trust>,
    /// Protocols a client may upgrade a connection to (Upgrade:), comma-separated; any other
    /// upgrade (h2c, say) is served as plain HTTP/1.1 without its upgrade headers.
    #[arg(long, default_value = "websocket", value_parser = Upgrades::parse)]
    pub upgrade_protocols: Upgrades,
}

impl RulesFlags {
    pub fn rules(&self) -> Rules {
        let mut trust = self.trusted_proxies.clone().unwrap_or_default();
        if self.trust_forwarded {
            trust = trust.with(Trust::all());
        }
        Rules {
            trust,
            upgrades: self.upgrade_protocols.clone(),
        }
    }
}
