//! How the proxy is started on a host, from `[proxy]`: the host ports and addresses its port
//! holder publishes (HTTP, HTTPS, metrics), its `dhow-proxy run` flags (ACME account,
//! connection cap, trusted proxies, debug log), the size cap of its container log and the
//! image. Recorded on the proxy container (a label) so `dhow proxy details` can show what a
//! host runs beside what the config says.

use serde::{Deserialize, Serialize};

/// Where the proxy listens inside its containers (the holder publishes these).
pub const CONTAINER_HTTP: u16 = 80;
pub const CONTAINER_HTTPS: u16 = 443;
pub const CONTAINER_METRICS: u16 = 9180;

/// How the proxy is started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootOptions {
    /// The host port for plain HTTP.
    pub http_port: u16,
    /// The host port for HTTPS (none: HTTPS not published).
    pub https_port: Option<u16>,
    /// Host addresses the ports are published on (none: every address).
    pub bind: Vec<String>,
    /// The host port for Prometheus metrics (none: not served).
    pub metrics_port: Option<u16>,
    pub acme_email: Option<String>,
    pub acme_directory: Option<String>,
    /// Client connections open at once (none: the proxy's default).
    pub max_connections: Option<u32>,
    /// Addresses and CIDR ranges whose forwarding headers the proxy keeps.
    pub trusted_proxies: Vec<String>,
    /// The operational log at debug level.
    pub debug: bool,
    /// The proxy containers' log files are rotated at this size (Docker's `max-size`).
    pub log_max_size: String,
    /// `proxy.image`: the team's own proxy image (none: the one dhow makes).
    pub image: Option<String>,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            http_port: 80,
            https_port: Some(443),
            bind: Vec::new(),
            metrics_port: None,
            acme_email: None,
            acme_directory: None,
            max_connections: None,
            trusted_proxies: Vec::new(),
            debug: false,
            log_max_size: "10m".into(),
            image: None,
        }
    }
}

impl BootOptions {
    /// The `dhow-proxy run` arguments these options add.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(p) = self.https_port {
            // Redirects to HTTPS name the port clients reach, not the container's.
            args.extend(["--https-public-port".to_string(), p.to_string()]);
        }
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
        if self.debug {
            args.push("--debug".to_string());
        }
        args
    }

    /// The `dhow-proxy hold` arguments: the sockets the port holder opens.
    pub fn hold_args(&self) -> Vec<String> {
        let mut args = vec![
            "--listen".to_string(),
            format!("http=0.0.0.0:{CONTAINER_HTTP}"),
        ];
        if self.https_port.is_some() {
            args.extend([
                "--listen".into(),
                format!("https=0.0.0.0:{CONTAINER_HTTPS}"),
            ]);
        }
        if self.metrics_port.is_some() {
            args.extend([
                "--listen".into(),
                format!("metrics=0.0.0.0:{CONTAINER_METRICS}"),
            ]);
        }
        args
    }

    /// (host address or "" for all, host port, container port) the holder publishes.
    pub fn published(&self) -> Vec<(String, u16, u16)> {
        let ports = [
            Some((self.http_port, CONTAINER_HTTP)),
            self.https_port.map(|p| (p, CONTAINER_HTTPS)),
            self.metrics_port.map(|p| (p, CONTAINER_METRICS)),
        ];
        let addrs: Vec<String> = if self.bind.is_empty() {
            vec![String::new()]
        } else {
            self.bind.clone()
        };
        ports
            .into_iter()
            .flatten()
            .flat_map(|(h, c)| addrs.iter().map(move |a| (a.clone(), h, c)))
            .collect()
    }

    /// The host ports web traffic arrives on (for the firewall).
    pub fn web_ports(&self) -> Vec<u16> {
        std::iter::once(self.http_port)
            .chain(self.https_port)
            .collect()
    }

    /// What the port holder depends on: a holder booted with other values must be recreated.
    pub fn holder_key(&self) -> String {
        format!("{:?}", self.published())
    }
}

#[cfg(test)]
mod boot_tests {
    use super::BootOptions;

    #[test]
    fn acme_settings_connection_cap_trusted_proxies_and_debug_become_run_flags() {
        let none = BootOptions {
            https_port: None,
            ..BootOptions::default()
        };
        assert!(none.run_args().is_empty());
        assert_eq!(
            BootOptions::default().run_args(),
            ["--https-public-port", "443"]
        );
        let o = BootOptions {
            acme_email: Some("ops@shop.test".into()),
            acme_directory: Some("https://acme.test/dir".into()),
            https_port: None,
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
            trusted_proxies: vec!["203.0.113.0/24".into(), "10.0.0.1".into()],
            debug: true,
            https_port: None,
            ..BootOptions::default()
        };
        assert_eq!(
            o.run_args(),
            [
                "--max-connections",
                "500",
                "--trusted-proxies",
                "203.0.113.0/24,10.0.0.1",
                "--debug"
            ]
        );
    }

    #[test]
    fn the_holder_publishes_each_port_on_each_bind_address() {
        let o = BootOptions {
            http_port: 8080,
            https_port: Some(8443),
            metrics_port: Some(9100),
            bind: vec!["127.0.0.1".into(), "10.0.0.5".into()],
            ..BootOptions::default()
        };
        let p = o.published();
        assert_eq!(p.len(), 6);
        assert!(p.contains(&("10.0.0.5".into(), 8443, 443)));
        assert!(p.contains(&("127.0.0.1".into(), 9100, 9180)));
        assert_eq!(
            o.hold_args(),
            [
                "--listen",
                "http=0.0.0.0:80",
                "--listen",
                "https=0.0.0.0:443",
                "--listen",
                "metrics=0.0.0.0:9180"
            ]
        );
        assert_eq!(o.web_ports(), [8080, 8443]);
        assert_eq!(
            BootOptions::default().published(),
            [("".into(), 80, 80), ("".into(), 443, 443)]
        );
    }
}
