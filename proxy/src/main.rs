//! The `dhow-proxy` binary: `run` serves traffic and the control socket; `list`, `deploy` and
//! `remove` are thin clients of the control socket.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dhow_proxy::{control, forward, server, state};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "dhow-proxy",
    about = "dhow's reverse proxy: health-gated, zero-downtime traffic switching"
)]
struct Cli {
    /// The control socket.
    #[arg(long, global = true, default_value = "/run/dhow-proxy/control.sock")]
    control: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve traffic and the control socket.
    Run {
        /// Where to accept HTTP.
        #[arg(long, default_value = "0.0.0.0:80")]
        http: String,
        /// The state file (routes survive restarts).
        #[arg(long, default_value = "/var/lib/dhow-proxy/state.json")]
        state: PathBuf,
        /// Do not log one JSON line per request.
        #[arg(long)]
        quiet: bool,
    },
    /// List services and their targets.
    List,
    /// Health-check TARGET and switch SERVICE to it.
    Deploy {
        service: String,
        #[arg(long)]
        target: String,
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long)]
        path_prefix: Option<String>,
        #[arg(long, default_value = "/up")]
        health_path: String,
        #[arg(long, default_value_t = 30_000)]
        deploy_timeout_ms: u64,
        #[arg(long, default_value_t = 30_000)]
        drain_timeout_ms: u64,
    },
    /// Stop routing SERVICE.
    Remove { service: String },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run { http, state, quiet } => run(&http, &cli.control, &state, !quiet).await,
        Cmd::List => call(&cli.control, "GET", "/v1/services", None).await,
        Cmd::Remove { service } => {
            call(
                &cli.control,
                "DELETE",
                &format!("/v1/services/{service}"),
                None,
            )
            .await
        }
        Cmd::Deploy {
            service,
            target,
            hosts,
            path_prefix,
            health_path,
            deploy_timeout_ms,
            drain_timeout_ms,
        } => {
            let body = serde_json::json!({
                "target": target, "hosts": hosts, "path_prefix": path_prefix,
                "health": { "path": health_path }, "deploy_timeout_ms": deploy_timeout_ms, "drain_timeout_ms": drain_timeout_ms,
            });
            call(
                &cli.control,
                "POST",
                &format!("/v1/services/{service}/deploy"),
                Some(body),
            )
            .await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhow-proxy: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(http: &str, control_path: &Path, state_path: &Path, log: bool) -> anyhow::Result<()> {
    let (saved, problem) = state::load(state_path);
    if let Some(p) = problem {
        eprintln!("{}", serde_json::json!({ "level": "error", "message": p }));
    }
    let proxy = forward::Proxy::new(saved.table(), log);
    let ctl = control::Control::new(proxy.clone(), state_path.to_path_buf());
    ctl.check_restored();
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("cannot listen on {http}"))?;
    if let Some(dir) = control_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(control_path);
    let unix = tokio::net::UnixListener::bind(control_path)
        .with_context(|| format!("cannot bind the control socket {}", control_path.display()))?;
    eprintln!(
        "{}",
        serde_json::json!({ "level": "info", "message": format!("dhow-proxy listening on {http}, control socket {}", control_path.display()), "services": saved.services.len() })
    );
    tokio::spawn(control::serve(unix, ctl));
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        let _ = tx.send(true);
    });
    server::serve(listener, Arc::clone(&proxy), rx, Duration::from_secs(30)).await;
    Ok(())
}

async fn call(
    control: &PathBuf,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let stream = tokio::net::UnixStream::connect(control)
        .await
        .with_context(|| format!("cannot reach the proxy at {}", control.display()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "dhow-proxy")
        .body(Full::new(bytes::Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))?;
    let resp = tokio::time::timeout(Duration::from_secs(600), sender.send_request(req))
        .await
        .context("no answer from the proxy")??;
    let status = resp.status();
    let text = resp.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&text));
    anyhow::ensure!(status.is_success(), "the proxy answered {status}");
    Ok(())
}
