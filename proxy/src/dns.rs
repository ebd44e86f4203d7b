//! Name resolution without glibc: the proxy is a static binary in an empty image, where
//! getaddrinfo cannot load its NSS modules. Targets are Docker container names, answered by
//! the nameserver in /etc/resolv.conf (Docker's embedded DNS); /etc/hosts and IP literals are
//! handled first.

use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A resolver usable by hyper-util's HttpConnector.
#[derive(Clone, Default)]
pub struct Resolver;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = resolve(&host).await?;
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

/// Resolve `host` to IPv4 addresses.
pub async fn resolve(host: &str) -> std::io::Result<Vec<IpAddr>> {
    if let Ok(ip) = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(vec![ip]);
    }
    if let Some(ip) = from_hosts_file(host) {
        return Ok(vec![ip]);
    }
    let servers = nameservers();
    let mut last = std::io::Error::other(format!("no nameserver to resolve {host}"));
    for server in servers {
        match query(server, host).await {
            Ok(ips) if !ips.is_empty() => return Ok(ips),
            Ok(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: no such host"),
                )
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn from_hosts_file(host: &str) -> Option<IpAddr> {
    let text = std::fs::read_to_string("/etc/hosts").ok()?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut parts = line.split_whitespace();
        let Some(ip) = parts.next().and_then(|p| p.parse::<IpAddr>().ok()) else {
            continue;
        };
        if ip.is_ipv4() && parts.any(|n| n.eq_ignore_ascii_case(host)) {
            return Some(ip);
        }
    }
    None
}

fn nameservers() -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut list: Vec<IpAddr> = text
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    if list.is_empty() {
        list.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    list
}

/// One A query over UDP with a 2 s deadline.
async fn query(server: IpAddr, host: &str) -> std::io::Result<Vec<IpAddr>> {
    let sock = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
    sock.connect(SocketAddr::new(server, 53)).await?;
    let id: u16 = (std::process::id() as u16) ^ (host.len() as u16).wrapping_mul(7919);
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, 1 question
    for label in host.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad host name",
            ));
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
    sock.send(&msg).await?;
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("DNS query for {host} timed out"),
            )
        })??;
    parse_answer(&buf[..n], id)
}

fn parse_answer(b: &[u8], id: u16) -> std::io::Result<Vec<IpAddr>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad DNS answer");
    if b.len() < 12 || u16::from_be_bytes([b[0], b[1]]) != id {
        return Err(bad());
    }
    let qd = u16::from_be_bytes([b[4], b[5]]) as usize;
    let an = u16::from_be_bytes([b[6], b[7]]) as usize;
    let mut i = 12;
    let skip_name = |mut i: usize| -> Option<usize> {
        loop {
            let len = *b.get(i)? as usize;
            if len == 0 {
                return Some(i + 1);
            }
            if len & 0xC0 == 0xC0 {
                return Some(i + 2);
            }
            i += len + 1;
        }
    };
    for _ in 0..qd {
        i = skip_name(i).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(i).ok_or_else(bad)?;
        let h = b.get(i..i + 10).ok_or_else(bad)?;
        let (typ, len) = (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[8], h[9]]) as usize,
        );
        i += 10;
        let data = b.get(i..i + len).ok_or_else(bad)?;
        if typ == 1 && len == 4 {
            out.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )));
        }
        i += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost_resolve_without_dns() {
        assert_eq!(
            resolve("10.1.2.3").await.unwrap(),
            vec!["10.1.2.3".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolve("localhost").await.unwrap(),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
    }

    #[test]
    fn parses_an_a_record_answer() {
        // Answer for "ab" with one A record 1.2.3.4 using a compression pointer.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[2, b'a', b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        assert_eq!(
            parse_answer(&m, 0x1234).unwrap(),
            vec!["1.2.3.4".parse::<IpAddr>().unwrap()]
        );
        assert!(parse_answer(&m, 0x9999).is_err());
    }
}
