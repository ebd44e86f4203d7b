//! `dhow-proxy run`: restore the routes, take the listening sockets (from the port holder
//! with `--listen-from`, or bind them), serve the data plane, the control socket and metrics,
//! and stop gracefully on SIGTERM or when handing over to a replacement (`handover.rs`).

use crate::run_args::RunArgs;
use anyhow::Context;
use dhow_proxy::limits::Limits;
use dhow_proxy::ports_fetch::Held;
use dhow_proxy::proxy::Proxy;
use dhow_proxy::server::Bind;
use dhow_proxy::{acme, control, handover, server, state};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The routes saved in the state file (problems logged), and the shared state serving them.
fn restore(args: &RunArgs) -> (state::State, Arc<Proxy>) {
    let (saved, problem) = state::load(&args.state);
    if let Some(p) = problem {
        tracing::error!("{p}");
    }
    let (table, problems) = saved.table();
    for p in problems {
        tracing::error!("{p}");
    }
    let limits = Limits {
        header_timeout: args.header_timeout,
        max_header_bytes: args.max_header_bytes,
        max_body_bytes: args.max_body_bytes,
        response_timeout: args.response_timeout,
        pause_timeout: args.pause_timeout,
        max_connections: dhow_proxy::limits::max_connections(args.max_connections),
    };
    let proxy = Proxy::with_limits(table, !args.quiet, limits, args.rules.rules());
    (saved, proxy)
}

/// The TLS config for the HTTPS port; ACME set up and its stored certificates loaded for it.
fn tls_setup(args: &RunArgs, proxy: &Arc<Proxy>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let config = dhow_proxy::tls::sni::server_config(proxy.clone())
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    let a = &args.acme;
    let dir = args.state.parent().unwrap_or(Path::new(".")).join("acme");
    let _ = proxy.acme.settings.set(acme::Settings {
        directory: a.acme_directory.clone(),
        email: a.acme_email.clone(),
        ca_root: a.acme_ca_root.clone(),
        challenge: a.acme_challenge,
        renew_before: a.acme_renew_before,
        check_interval: a.acme_check_interval,
        dir,
    });
    for p in proxy.acme.load_stored(&proxy.table.load().acme_hosts()) {
        tracing::error!("{p}");
    }
    Ok(config)
}

fn parse_addr(flag: &str, a: &str, like: &str) -> anyhow::Result<std::net::SocketAddr> {
    a.parse()
        .with_context(|| format!("{flag} {a}: expected an address and port, like {like}"))
}

/// The data plane's sockets and the metrics listener: the holder's, or bound here.
struct Sockets {
    ports: server::Ports,
    metrics: Option<tokio::net::TcpListener>,
    /// Resolves when the port holder goes away (its sockets get no more connections).
    holder_gone: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

async fn sockets(args: &RunArgs, proxy: &Arc<Proxy>) -> anyhow::Result<Sockets> {
    if let Some(path) = &args.listen_from {
        let held = dhow_proxy::ports_fetch::fetch(path, Duration::from_secs(60))?;
        let gone = held.holder_gone()?;
        let Held {
            http,
            https,
            metrics,
            ..
        } = held;
        let https = if https.is_empty() {
            None
        } else {
            Some((Bind::Held(https), tls_setup(args, proxy)?))
        };
        let metrics = match metrics {
            Some(m) => Some(tokio::net::TcpListener::from_std(m)?),
            None => None,
        };
        return Ok(Sockets {
            ports: server::Ports {
                http: Bind::Held(http),
                https,
            },
            metrics,
            holder_gone: Some(Box::pin(gone)),
        });
    }
    let http = parse_addr("--http", &args.http, "0.0.0.0:80")?;
    let https = match &args.https {
        Some(a) => Some((
            Bind::Addr(parse_addr("--https", a, "0.0.0.0:443")?),
            tls_setup(args, proxy)?,
        )),
        None => None,
    };
    let metrics = match &args.metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?,
        ),
        None => None,
    };
    Ok(Sockets {
        ports: server::Ports {
            http: Bind::Addr(http),
            https,
        },
        metrics,
        holder_gone: None,
    })
}

pub async fn run(args: RunArgs, control_path: &Path) -> anyhow::Result<()> {
    dhow_proxy::logging::init(args.log_format, args.debug);
    let (saved, proxy) = restore(&args);
    let ctl = control::Control::new(proxy.clone(), args.state.clone());
    ctl.check_restored();
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    // With --takeover, stand by only while another proxy answers on the usual socket (a
    // replacement); otherwise (first start, or Docker restarting this container after it took
    // over) take the usual socket at once.
    let (control_path, takeover) = match &args.takeover {
        Some(usual) if std::os::unix::net::UnixStream::connect(usual).is_ok() => (
            control_path.to_path_buf(),
            Some((control_path.to_path_buf(), usual.clone())),
        ),
        Some(usual) => (usual.clone(), None),
        None => (control_path.to_path_buf(), None),
    };
    let standby = takeover.is_some();
    let control_path = control_path.as_path();
    let lifecycle = Arc::new(handover::Lifecycle::new(
        tx.clone(),
        args.header_timeout,
        takeover,
    ));
    let _ = ctl.lifecycle.set(lifecycle.clone());
    let Sockets {
        ports,
        metrics,
        holder_gone,
    } = sockets(&args, &proxy).await?;
    let grace = args.shutdown_timeout;
    let server::Workers {
        http: bound,
        https: https_bound,
        threads,
    } = server::spawn_workers(ports, workers, proxy.clone(), rx.clone(), grace)
        .with_context(|| format!("cannot listen on {} / {:?}", args.http, args.https))?;
    if let Some(b) = https_bound {
        let _ = proxy
            .https_port
            .set(args.https_public_port.unwrap_or(b.port()));
    }
    if let Some(dir) = control_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(control_path);
    let http_addr = bound.to_string();
    let metrics_addr = match &metrics {
        Some(m) => Some(m.local_addr()?.to_string()),
        None => None,
    };
    let unix = tokio::net::UnixListener::bind(control_path)
        .with_context(|| format!("cannot bind the control socket {}", control_path.display()))?;
    restrict_socket(control_path, args.control_gid)?;
    let https_addr = https_bound.map(|b| b.to_string());
    tracing::info!(
        http = %http_addr,
        https = https_addr.as_deref(),
        metrics = metrics_addr.as_deref(),
        services = saved.services.len(),
        held = holder_gone.is_some(),
        standby,
        "dhow-proxy listening on {http_addr}, control socket {}",
        control_path.display()
    );
    tokio::spawn(control::serve(unix, ctl));
    let routes = proxy.clone();
    let renewals = lifecycle.clone();
    tokio::spawn(async move {
        // A replacement renews certificates once it owns the state.
        renewals.owner().await;
        acme::run(routes.acme.clone(), move || {
            routes.table.load().acme_hosts()
        })
        .await
    });
    if let Some(m) = metrics {
        tokio::spawn(server::serve_metrics(m, proxy.clone(), rx.clone()));
    }
    let failed = Arc::new(AtomicBool::new(false));
    watch_stop(
        proxy.clone(),
        args.shutdown_linger,
        holder_gone,
        failed.clone(),
        tx,
    );
    tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await?;
    if failed.load(Ordering::SeqCst) {
        anyhow::bail!("the port holder went away");
    }
    Ok(())
}

/// Begin the stop on SIGTERM, Ctrl-C, or when the port holder goes away (then `failed` is set:
/// the process exits non-zero so Docker starts it again with the new holder's sockets).
fn watch_stop(
    stopper: Arc<Proxy>,
    linger: Duration,
    holder_gone: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    lost: Arc<AtomicBool>,
    tx: tokio::sync::watch::Sender<bool>,
) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        let holder = async {
            match holder_gone {
                Some(g) => g.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("shutting down: finishing in-flight requests"),
            _ = tokio::signal::ctrl_c() => tracing::info!("shutting down: finishing in-flight requests"),
            _ = holder => {
                tracing::error!(
                    "the port holder went away; stopping so that Docker starts this proxy again \
                     with its new sockets"
                );
                lost.store(true, Ordering::SeqCst);
            }
        }
        stopper.drain.begin(linger);
        let _ = tx.send(true);
    });
}

/// Mode 0600, or 0660 with group `gid`.
fn restrict_socket(path: &Path, gid: Option<u32>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(gid) = gid {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .context("control socket path")?;
        // SAFETY: a valid NUL-terminated path; uid -1 leaves the owner unchanged.
        let rc = unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot give the control socket to group {gid}"));
        }
    }
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(())
}
