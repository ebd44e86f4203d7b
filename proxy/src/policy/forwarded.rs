//! Forwarding headers: whom the proxy trusts with them and what it writes. A sender is trusted
//! when its address is in the `--trusted-proxies` list (addresses and CIDR ranges, parsed with
//! the `ipnet` crate; `--trust-forwarded` trusts every sender). From a trusted sender the
//! incoming X-Forwarded-For chain is extended and X-Forwarded-Proto/-Host, `Forwarded` and the
//! other X-Forwarded-* are kept; from any other sender they are dropped and the proxy writes
//! its own. The client address (written as X-Real-IP) is the rightmost hop of the chain that is
//! not trusted. A chain with bytes that are not text is dropped whole, on both paths.

use super::tokens;
use ipnet::IpNet;
use std::net::IpAddr;

/// The senders whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    all: bool,
    nets: Vec<IpNet>,
}

impl Trust {
    /// Every sender (`--trust-forwarded`: the proxy only ever hears a balancer).
    pub fn all() -> Trust {
        Trust {
            all: true,
            nets: Vec::new(),
        }
    }

    /// `10.0.0.0/8,127.0.0.1,2001:db8::/32`: addresses and CIDR ranges, comma-separated.
    pub fn parse(list: &str) -> Result<Trust, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            nets.push(parse_net(item)?);
        }
        Ok(Trust { all: false, nets })
    }

    /// Add `other`'s senders to these.
    pub fn with(mut self, other: Trust) -> Trust {
        self.all |= other.all;
        self.nets.extend(other.nets);
        self
    }

    /// Is `ip` trusted (an IPv4-mapped IPv6 address counts as its IPv4 address)?
    #[inline]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.all || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// One address (`127.0.0.1`, `::1`) or CIDR range (`10.0.0.0/8`).
pub fn parse_net(item: &str) -> Result<IpNet, String> {
    item.parse::<IpNet>()
        .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{item}: expected an IP address or a CIDR range like 10.0.0.0/8"))
}

/// The forwarding rules of a proxy: whom it trusts, which upgrades it passes on.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub trust: Trust,
    pub upgrades: super::upgrade::Upgrades,
}

/// A forwarded chain the proxy may pass on: visible ASCII, spaces and tabs only.
#[inline]
pub fn chain_text(value: &[u8]) -> bool {
    value
        .iter()
        .all(|b| *b == b' ' || *b == b'\t' || b.is_ascii_graphic())
}

/// Write the X-Forwarded-For value: from a `trusted` sender the incoming chain (every incoming
/// X-Forwarded-For value, in order, when all are text) and `, `; then the sender's address.
#[inline]
pub fn forwarded_for<'a, I>(trusted: bool, incoming: I, peer: &str, out: &mut Vec<u8>)
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    if trusted && incoming.clone().all(chain_text) {
        for v in incoming.map(<[u8]>::trim_ascii).filter(|v| !v.is_empty()) {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(peer.as_bytes());
}

/// Write the client's address: the sender's own unless it is `trusted`; then, walking the
/// incoming chain from the right, the first hop that is not trusted (the leftmost when all
/// are). A hop that is not an IP address ends the walk at the hop after it.
#[inline]
pub fn client_address<'a, I>(
    trust: &Trust,
    trusted: bool,
    incoming: I,
    peer: &str,
    out: &mut Vec<u8>,
) where
    I: DoubleEndedIterator<Item = &'a [u8]> + Clone,
{
    let mut client = peer.as_bytes();
    if trusted && incoming.clone().all(chain_text) {
        'walk: for value in incoming.rev() {
            for hop in tokens(value).rev().filter(|h| !h.is_empty()) {
                let Some(ip) = std::str::from_utf8(hop)
                    .ok()
                    .and_then(|h| h.parse::<IpAddr>().ok())
                else {
                    break 'walk;
                };
                client = hop;
                if !trust.trusts(ip) {
                    break 'walk;
                }
            }
        }
    }
    out.extend_from_slice(client);
}

/// Incoming X-Forwarded-Proto / X-Forwarded-Host (`present`) are kept only from a trusted
/// sender; otherwise the proxy is the edge and a client could forge them.
#[inline]
pub fn keep_incoming_forwarded(trusted: bool, present: bool) -> bool {
    trusted && present
}

/// The X-Forwarded-Proto the proxy writes.
#[inline]
pub fn forwarded_proto(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// Does the proxy write X-Forwarded-Host (the request's host) for a request whose host is
/// `host` and which came with one (`present`)?
#[inline]
pub fn write_forwarded_host(trusted: bool, present: bool, host: &[u8]) -> bool {
    !keep_incoming_forwarded(trusted, present) && !host.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(trusted: bool, incoming: &[&[u8]]) -> String {
        let mut out = Vec::new();
        forwarded_for(trusted, incoming.iter().copied(), "10.0.0.1", &mut out);
        String::from_utf8(out).unwrap()
    }

    fn client(trust: &Trust, incoming: &[&[u8]]) -> String {
        let mut out = Vec::new();
        let trusted = trust.trusts("10.0.0.1".parse().unwrap());
        client_address(
            trust,
            trusted,
            incoming.iter().copied(),
            "10.0.0.1",
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn chains_are_extended_only_from_trusted_senders_and_only_as_text() {
        assert_eq!(chain(true, &[b"1.2.3.4"]), "1.2.3.4, 10.0.0.1");
        assert_eq!(
            chain(true, &[b"1.2.3.4", b" 5.6.7.8 "]),
            "1.2.3.4, 5.6.7.8, 10.0.0.1"
        );
        assert_eq!(chain(false, &[b"1.2.3.4"]), "10.0.0.1");
        assert_eq!(chain(true, &[b"1.2.3.4\xff"]), "10.0.0.1");
        assert_eq!(chain(true, &[b""]), "10.0.0.1");
        assert!(write_forwarded_host(false, true, b"a.test"));
        assert!(!write_forwarded_host(true, true, b"a.test"));
        assert!(!write_forwarded_host(false, false, b""));
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let lb = Trust::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        assert_eq!(
            client(&lb, &[b"6.6.6.6, 203.0.113.9, 10.2.3.4"]),
            "203.0.113.9"
        );
        assert_eq!(
            client(&lb, &[b"6.6.6.6", b"203.0.113.9, 192.168.1.1"]),
            "203.0.113.9"
        );
        assert_eq!(client(&lb, &[b"10.9.9.9, 10.2.3.4"]), "10.9.9.9");
        assert_eq!(client(&lb, &[b"junk, 10.2.3.4"]), "10.2.3.4");
        assert_eq!(client(&lb, &[]), "10.0.0.1");
        assert_eq!(client(&Trust::default(), &[b"1.2.3.4"]), "10.0.0.1");
        assert_eq!(client(&Trust::all(), &[b"1.2.3.4, 5.6.7.8"]), "1.2.3.4");
    }

    #[test]
    fn trust_lists_are_addresses_and_ranges() {
        let t = Trust::parse("10.0.0.0/8,127.0.0.1,2001:db8::/32").unwrap();
        for yes in ["10.1.2.3", "127.0.0.1", "::ffff:10.0.0.5", "2001:db8::1"] {
            assert!(t.trusts(yes.parse().unwrap()), "{yes}");
        }
        for no in ["11.0.0.1", "127.0.0.2", "::1"] {
            assert!(!t.trusts(no.parse().unwrap()), "{no}");
        }
        assert!(Trust::parse("10.0.0.0/33").is_err());
        assert!(Trust::parse("example.com").is_err());
        assert!(!Trust::default().trusts("127.0.0.1".parse().unwrap()));
        assert!(Trust::default()
            .with(Trust::all())
            .trusts("1.1.1.1".parse().unwrap()));
    }
}
