//! A keep-alive HTTP load generator for zero-downtime checks: N threads, each holding one
//! persistent connection and sending GETs back to back until stopped. Every request whose
//! response is not a complete 2xx counts as failed; versions seen in bodies are tallied.
//! Plain HTTP, or HTTPS (rustls, the server's certificate checked against a given CA) with an
//! optional pause between a connection's requests (a client that stays under a rate limit).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub ok: u64,
    pub failed: u64,
    pub failures: Vec<String>,
    /// Body (first line) -> count.
    pub bodies: BTreeMap<String, u64>,
    pub reconnects: u64,
    /// The longest time one connection went without a complete 2xx (a client's view of a
    /// window without service, queueing included).
    pub longest_wait: Duration,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Report>>,
}

/// Where and how the load's connections go.
#[derive(Clone)]
struct Target {
    addr: String,
    host: String,
    path: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    pause: Duration,
}

impl Load {
    /// Start `conns` keep-alive connections to `addr` sending `GET path` with `Host: host`.
    pub fn start(addr: &str, host: &str, path: &str, conns: usize) -> Load {
        Self::spawn(
            Target {
                addr: addr.into(),
                host: host.into(),
                path: path.into(),
                tls: None,
                pause: Duration::ZERO,
            },
            conns,
        )
    }

    /// The same over HTTPS (SNI `host`, HTTP/1.1), trusting only `ca_pem`; each connection
    /// waits `pause` after each response.
    pub fn start_tls(
        addr: &str,
        host: &str,
        path: &str,
        conns: usize,
        ca_pem: &str,
        pause: Duration,
    ) -> Load {
        Self::spawn(
            Target {
                addr: addr.into(),
                host: host.into(),
                path: path.into(),
                tls: Some(tls_config(ca_pem)),
                pause,
            },
            conns,
        )
    }

    fn spawn(target: Target, conns: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..conns)
            .map(|_| {
                let (target, stop) = (target.clone(), stop.clone());
                std::thread::spawn(move || worker(&target, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    /// Stop and merge the reports.
    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Report::default();
        for t in self.threads {
            let r = t.join().unwrap_or_default();
            total.ok += r.ok;
            total.failed += r.failed;
            total.reconnects += r.reconnects;
            total.longest_wait = total.longest_wait.max(r.longest_wait);
            total.failures.extend(r.failures.into_iter().take(5));
            for (k, v) in r.bodies {
                *total.bodies.entry(k).or_default() += v;
            }
        }
        total
    }
}

/// A client config trusting only `ca_pem` (h1 by ALPN).
pub fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn connect(t: &Target) -> std::io::Result<BufReader<Box<dyn Stream>>> {
    let s = TcpStream::connect_timeout(&t.addr.parse().expect("addr"), Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match &t.tls {
        None => Box::new(s),
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from(t.host.clone())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let conn = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Box::new(rustls::StreamOwned::new(conn, s))
        }
    };
    Ok(BufReader::new(stream))
}

fn worker(t: &Target, stop: &AtomicBool) -> Report {
    let (host, path) = (&t.host, &t.path);
    let mut report = Report::default();
    let mut conn: Option<BufReader<Box<dyn Stream>>> = None;
    let mut fail = |r: &mut Report, why: String| {
        r.failed += 1;
        if r.failures.len() < 5 {
            r.failures.push(why);
        }
    };
    let _ = &mut fail;
    let mut last_ok = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match connect(t) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    fail(&mut report, format!("connect: {e}"));
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let Some(r) = conn.as_mut() else {
            continue;
        };
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        if let Err(e) = r.get_mut().write_all(req.as_bytes()) {
            fail(&mut report, format!("write: {e}"));
            conn = None;
            continue;
        }
        match read_response(r) {
            Ok((status, body, close)) => {
                if (200..300).contains(&status) {
                    report.ok += 1;
                    report.longest_wait = report.longest_wait.max(last_ok.elapsed());
                    last_ok = std::time::Instant::now();
                    let first = body.lines().next().unwrap_or("").to_string();
                    *report.bodies.entry(first).or_default() += 1;
                } else {
                    fail(&mut report, format!("status {status}: {}", body.trim()));
                }
                if close {
                    report.reconnects += 1;
                    conn = None;
                }
            }
            Err(e) => {
                fail(&mut report, format!("read: {e}"));
                conn = None;
            }
        }
        if !t.pause.is_zero() {
            std::thread::sleep(t.pause);
        }
    }
    report
}

fn read_response(r: &mut BufReader<impl Read>) -> std::io::Result<(u16, String, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed in headers",
            ));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => len = v.parse().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}
