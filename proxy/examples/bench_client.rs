//! The client side of two rows of `make bench-proxy` (bench/proxy.sh) that no Debian tool
//! measures, pointed at dhow-proxy, nginx and haproxy alike:
//!
//! - `idle ADDR N h1|h2`: open N keep-alive connections (HTTP/1.1, or h2 with prior
//!   knowledge), send one request on each and read its answer, print `ready N`, then hold
//!   them all open until stdin closes, then check that each is still answered. The script
//!   reads the server's resident memory before and while they wait.
//! - `handshakes ADDR NAME CA_PEM CONNS SECONDS full|resumed`: CONNS loops for SECONDS, each
//!   a new TCP connection, a TLS handshake (rustls, ALPN http/1.1, SNI NAME, trusting
//!   CA_PEM), one `GET /` with `Connection: close`, read to the end. `full` turns resumption
//!   off; with `resumed` each loop is a returning browser with a session store of its own
//!   (TLS 1.3 tickets), so after its first handshake every one resumes. Prints handshakes/s
//!   and how many resumed.
//!   h2load measures full handshakes too, but cannot resume.
//!
//! Runs on one thread, as h2load does by default. Build: `cargo build --release -p dhow-proxy
//! --example bench_client`.

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type AnyError = Box<dyn std::error::Error + Send + Sync>;
type H2Sender = hyper::client::conn::http2::SendRequest<Empty<bytes::Bytes>>;

fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["idle", addr, n, proto] => rt.block_on(idle(addr.parse()?, n.parse()?, proto)),
        ["handshakes", addr, name, ca, conns, secs, kind] => rt.block_on(handshakes(
            addr.parse()?,
            name,
            ca,
            conns.parse()?,
            Duration::from_secs(secs.parse()?),
            kind == "resumed",
        )),
        _ => Err("usage: bench_client idle ADDR N h1|h2 | \
                  handshakes ADDR NAME CA_PEM CONNS SECONDS full|resumed"
            .into()),
    }
}

/// The open-file limit raised to its hard limit (10,000 connections need more than 1,024).
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// One idle connection of either kind.
enum Idle {
    H1(TcpStream),
    H2(H2Sender),
}

async fn idle(addr: SocketAddr, n: usize, proto: &str) -> Result<(), AnyError> {
    use futures::StreamExt;
    raise_nofile();
    let h2 = match proto {
        "h1" => false,
        "h2" => true,
        _ => return Err(format!("{proto}: h1 or h2").into()),
    };
    let opened: Vec<Result<Idle, AnyError>> = futures::stream::iter(0..n)
        .map(|_| open_one(addr, h2))
        .buffer_unordered(256)
        .collect()
        .await;
    let mut conns = Vec::with_capacity(n);
    for c in opened {
        conns.push(c?);
    }
    println!("ready {}", conns.len());
    // Hold them until the script has read the server's memory and closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    // Each is still answered (a server that dropped idle connections would not count).
    let answered: Vec<bool> = futures::stream::iter(conns)
        .map(|c| async move {
            match c {
                Idle::H1(mut s) => h1_get(&mut s).await.is_ok_and(|s| s == 200),
                Idle::H2(mut s) => h2_get(&mut s).await.is_ok_and(|s| s == 200),
            }
        })
        .buffer_unordered(1024)
        .collect()
        .await;
    println!(
        "answered {} of {}",
        answered.iter().filter(|a| **a).count(),
        answered.len()
    );
    Ok(())
}

async fn open_one(addr: SocketAddr, h2: bool) -> Result<Idle, AnyError> {
    let mut tcp = TcpStream::connect(addr).await?;
    if !h2 {
        let status = h1_get(&mut tcp).await?;
        return if status == 200 {
            Ok(Idle::H1(tcp))
        } else {
            Err(format!("status {status}").into())
        };
    }
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let status = h2_get(&mut send).await?;
    if status != 200 {
        return Err(format!("h2 status {status}").into());
    }
    Ok(Idle::H2(send))
}

/// One keep-alive GET on an open HTTP/1.1 connection; its status (body read by length).
async fn h1_get(conn: &mut TcpStream) -> Result<u16, AnyError> {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
        .await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Err("closed before an answer".into());
        }
        got.extend_from_slice(&buf[..n]);
        if let Some((status, whole)) = parse_answer(&got) {
            if got.len() >= whole {
                return Ok(status);
            }
        }
    }
}

/// A response head in `got`: (status, length of head and body), once the head is complete.
fn parse_answer(got: &[u8]) -> Option<(u16, usize)> {
    let text = String::from_utf8_lossy(got);
    let end = text.find("\r\n\r\n")?;
    let len = text[..end]
        .lines()
        .find_map(|l| {
            let l = l.to_ascii_lowercase();
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
        .unwrap_or(0);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, end + 4 + len))
}

async fn h2_get(send: &mut H2Sender) -> Result<u16, AnyError> {
    let req = hyper::Request::get("http://bench.test/").body(Empty::new())?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

async fn handshakes(
    addr: SocketAddr,
    name: &str,
    ca: &str,
    conns: usize,
    length: Duration,
    resume: bool,
) -> Result<(), AnyError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    let server = ServerName::try_from(name.to_string())?;
    let request = format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    let (done, resumed, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let end = start + length;
    let mut loops = Vec::new();
    for _ in 0..conns {
        // A config (and so a session store) per loop: one browser each. A store shared by all
        // would run out of tickets (each is used once) with many handshakes under way.
        let mut config = config.clone();
        if resume {
            config.resumption = rustls::client::Resumption::in_memory_sessions(16);
        }
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let (server, request) = (server.clone(), request.clone());
        let (done, resumed, failed) = (done.clone(), resumed.clone(), failed.clone());
        loops.push(tokio::spawn(async move {
            while Instant::now() < end {
                match one_handshake(addr, &connector, &server, &request).await {
                    Ok(was_resumed) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        if was_resumed {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for l in loops {
        l.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let (d, r, f) = (
        done.load(Ordering::Relaxed),
        resumed.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    println!(
        "handshakes/s {:.0} done {d} resumed {r} failed {f}",
        d as f64 / secs
    );
    Ok(())
}

/// Connect, handshake, one request answered 200 to its end; whether the session resumed.
async fn one_handshake(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    server: &rustls::pki_types::ServerName<'static>,
    request: &str,
) -> Result<bool, AnyError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(server.clone(), tcp),
    )
    .await??;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    tls.write_all(request.as_bytes()).await?;
    let mut got = Vec::new();
    // Servers close after the answer (Connection: close); some without close_notify.
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut got)).await?;
    if let Err(e) = read {
        if e.kind() != std::io::ErrorKind::UnexpectedEof || got.is_empty() {
            return Err(e.into());
        }
    }
    match parse_answer(&got) {
        Some((200, _)) => Ok(resumed),
        other => Err(format!("answer {other:?}").into()),
    }
}
