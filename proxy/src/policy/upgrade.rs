//! Which protocol upgrades (`Upgrade:`) the proxy passes on to an app: `websocket` unless told
//! otherwise. Any other upgrade, an h2c one in particular, is served as plain HTTP/1.1 with
//! its upgrade headers dropped.

use super::tokens;

/// The protocols a client may upgrade a connection to (`Upgrade:`); `websocket` unless the
/// proxy is told otherwise. Names in lower case.
#[derive(Debug, Clone)]
pub struct Upgrades(pub Vec<String>);

impl Default for Upgrades {
    fn default() -> Self {
        Upgrades(vec!["websocket".into()])
    }
}

impl Upgrades {
    /// `websocket,echo`: a comma-separated list of protocol names.
    pub fn parse(s: &str) -> Result<Upgrades, String> {
        let names: Vec<String> = s
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names
            .iter()
            .any(|n| n.bytes().any(|b| !b.is_ascii_graphic() || b == b'/'))
        {
            return Err(format!("{s}: expected protocol names like websocket,foo"));
        }
        Ok(Upgrades(names))
    }

    /// Is an upgrade to every protocol in this `Upgrade` value allowed (a version after `/`
    /// aside)? An h2c upgrade is not, unless configured: the request is then served as plain
    /// HTTP/1.1, its upgrade headers dropped.
    #[inline]
    pub fn allow(&self, upgrade: &[u8]) -> bool {
        let mut any = false;
        let all = tokens(upgrade).all(|t| {
            any = true;
            let name = t.split(|b| *b == b'/').next().unwrap_or(t);
            self.0
                .iter()
                .any(|p| name.eq_ignore_ascii_case(p.as_bytes()))
        });
        any && all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_unless_configured() {
        let u = Upgrades::default();
        assert!(u.allow(b"WebSocket") && u.allow(b"websocket/13"));
        assert!(!u.allow(b"h2c") && !u.allow(b"websocket, h2c") && !u.allow(b""));
        let u = Upgrades::parse("websocket, Echo").unwrap();
        assert!(u.allow(b"echo"));
        assert!(Upgrades::parse("a/b").is_err());
    }
}
