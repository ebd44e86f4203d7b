//! How the proxy container is started on a host: the ports it publishes, its ACME account
//! and its connection cap, as `dhow-proxy run` flags (from `[proxy]`, applied at boot).

/// How the proxy container is started: the ports it publishes and its ACME account.
#[derive(Debug, Clone, PartialEq)]
pub struct BootOptions {
    /// (host port, container port).
    pub publish: Vec<(u16, u16)>,
    pub acme_email: Option<String>,
    pub acme_directory: Option<String>,
    /// Client connections open at once (none: the proxy's default).
    pub max_connections: Option<u32>,
    /// Addresses and CIDR ranges whose forwarding headers the proxy keeps.
    pub trusted_proxies: Vec<String>,
    /// `proxy.image`: the team's own proxy image (none: the one dhow makes).
    pub image: Option<String>,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            publish: vec![(80, 80), (443, 443)],
            acme_email: None,
            acme_directory: None,
            max_connections: None,
            trusted_proxies: Vec::new(),
            image: None,
        }
    }
}

impl BootOptions {
    /// The `dhow-proxy run` arguments these options add.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(e) = &self.acme_email {
            args.extend(["--acme-email".to_string(), e.clone()]);
        }
        if let Some(d) = &self.acme_directory {
            args.extend(["--acme-directory".to_string(), d.clone()]);
        }
        if let Some(n) = self.max_connections {
            args.extend(["--max-connections".to_string(), n.to_string()]);
        }
        if !self.trusted_proxies.is_empty() {
            args.extend([
                "--trusted-proxies".to_string(),
                self.trusted_proxies.join(","),
            ]);
        }
        args
    }
}

#[cfg(test)]
mod boot_tests {
    use super::BootOptions;

    #[test]
    fn acme_settings_connection_cap_and_trusted_proxies_become_run_flags() {
        assert!(BootOptions::default().run_args().is_empty());
        let o = BootOptions {
            acme_email: Some("ops@shop.test".into()),
            acme_directory: Some("https://acme.test/dir".into()),
            ..BootOptions::default()
        };
        assert_eq!(
            o.run_args(),
            [
                "--acme-email",
                "ops@shop.test",
                "--acme-directory",
                "https://acme.test/dir"
            ]
        );
        let o = BootOptions {
            max_connections: Some(500),
            ..BootOptions::default()
        };
        assert_eq!(o.run_args(), ["--max-connections", "500"]);
        let o = BootOptions {
            trusted_proxies: vec!["203.0.113.0/24".into(), "10.0.0.1".into()],
            ..BootOptions::default()
        };
        assert_eq!(
            o.run_args(),
            ["--trusted-proxies", "203.0.113.0/24,10.0.0.1"]
        );
    }
}
