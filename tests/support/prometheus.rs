//! A real Prometheus (Debian's `prometheus` package; `make deps` installs it) for the examples:
//! started on the deployer's loopback with its own config and data directory, scraping the
//! given targets every second, and queried through its HTTP API.

use super::example::{free_port, wait_port, Reaped};
use super::http_get;
use std::path::Path;
use std::process::Command;

pub struct Prometheus {
    pub port: u16,
    _child: Reaped,
    log: std::path::PathBuf,
}

impl Prometheus {
    /// Start Prometheus in `dir` scraping `targets` (`127.0.0.1:PORT`, path /metrics) as job `job`.
    pub fn start(dir: &Path, job: &str, targets: &[String]) -> Prometheus {
        let port = free_port();
        let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = dir.join("prometheus.log");
        let child = Reaped::spawn(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            &log,
        );
        wait_port(
            port,
            "prometheus (is Debian's prometheus installed? make deps)",
        );
        Prometheus {
            port,
            _child: child,
            log,
        }
    }

    /// An instant query: each result's `label` value and its sample value.
    pub fn query(&self, promql: &str, label: &str) -> Vec<(String, f64)> {
        let path = format!("/api/v1/query?query={}", urlencode(promql));
        let (status, body) =
            http_get(&format!("127.0.0.1:{}", self.port), "127.0.0.1", &path).expect("query");
        assert_eq!(status, 200, "prometheus query {promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("prometheus JSON");
        assert_eq!(v["status"], "success", "prometheus query {promql}: {body}");
        v["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let name = r["metric"][label].as_str().unwrap_or("").to_string();
                let n = r["value"][1].as_str().and_then(|s| s.parse().ok());
                (name, n.unwrap_or(f64::NAN))
            })
            .collect()
    }

    /// Whether every target is up (last scrape succeeded).
    pub fn targets_up(&self) -> bool {
        let up = self.query("up", "instance");
        !up.is_empty() && up.iter().all(|(_, v)| *v == 1.0)
    }

    pub fn log(&self) -> String {
        Reaped::log(&self.log)
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
