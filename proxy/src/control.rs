//! The control plane: HTTP+JSON on a unix socket. `deploy` health-checks the new target (or
//! every one of several), switches the service to it (them) atomically, drains the old
//! one(s), and only then answers (`control_targets.rs`: list, restored targets' checks);
//! `remove` drops a service; `pause` holds its requests, `stop` answers them with a
//! maintenance page, `resume` makes it live again; `list` shows the table; `health` says the
//! proxy is up. Every change is saved to the state file before it takes effect, so the
//! proxy never routes by a table it would not come back with after a restart.

use crate::body::ProxyBody;
use crate::control_reply::{ok, reply};
use crate::health;
use crate::limits::ServiceLimits;
use crate::proxy::Proxy;
use crate::router::{Service, ServiceMode, Table};
use crate::state::{self, State};
use crate::traffic::ServiceTraffic;
use dhow_proxy_api::{
    DeployAnswer, DeployRequest, Endpoint, ErrorBody, HealthAnswer, ModeAnswer, RemoveAnswer,
    StopRequest,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::Mutex;

/// Control-plane state: the data plane plus a writer lock and the state file.
pub struct Control {
    pub proxy: Arc<Proxy>,
    pub state_path: PathBuf,
    pub(crate) writer: Mutex<()>,
    /// Each service's last bake window, and its counters when its targets last changed.
    pub(crate) bakes: std::sync::Mutex<HashMap<String, dhow_proxy_api::BakeStatus>>,
    pub(crate) switched_at: std::sync::Mutex<HashMap<String, crate::stats::Counts>>,
    /// Handing over to, or taking over from, another proxy process (set by `run`).
    pub lifecycle: std::sync::OnceLock<Arc<crate::handover::Lifecycle>>,
}

impl Control {
    pub fn new(proxy: Arc<Proxy>, state_path: PathBuf) -> Arc<Control> {
        Arc::new(Control {
            proxy,
            state_path,
            writer: Mutex::new(()),
            bakes: Default::default(),
            switched_at: Default::default(),
            lifecycle: std::sync::OnceLock::new(),
        })
    }

    /// Load the state file again and route by it when it differs from the table (another
    /// process changed routes since this one started); true when it did.
    pub fn reload_if_changed(self: &Arc<Self>) -> bool {
        let (saved, problem) = state::load(&self.state_path);
        if let Some(p) = problem {
            tracing::error!("{p}");
        }
        let now = serde_json::to_value(State::of(&self.proxy.table.load())).ok();
        if now.is_some() && serde_json::to_value(&saved).ok() == now {
            return false;
        }
        let (table, problems) = saved.table();
        for p in problems {
            tracing::error!("{p}");
        }
        self.proxy.publish(table);
        self.check_restored();
        true
    }

    /// Save `next` to the state file, then make it the table requests are routed by. When the
    /// save fails the table stays as it was (a switch the proxy would forget at its next start
    /// is not made): the answer is a 500 the CLI reports as a failed step, and the previous
    /// target keeps serving.
    pub(crate) fn save_and_publish(&self, next: Table) -> Result<(), (StatusCode, String)> {
        state::save(&self.state_path, &State::of(&next)).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "could not save the state file {}: {e}; nothing was changed",
                    self.state_path.display()
                ),
            )
        })?;
        self.proxy.publish(next);
        Ok(())
    }

    /// Health-check, switch, drain. Errors are (status, message).
    pub async fn deploy(
        self: &Arc<Self>,
        name: &str,
        req: DeployRequest,
    ) -> Result<DeployAnswer, (StatusCode, String)> {
        if req.target.is_empty() {
            return Err((
                StatusCode::BAD_REQUEST,
                "target is required (HOST:PORT)".into(),
            ));
        }
        let hosts: Vec<String> = req
            .hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let prefixes =
            crate::traffic::check_deploy(&hosts, req.path_prefix.as_deref(), &req.traffic)
                .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let traffic = {
            let table = self.proxy.table.load();
            if let Some(msg) = table.conflict(name, &hosts, &prefixes) {
                return Err((StatusCode::CONFLICT, msg));
            }
            let old = table.get(name).map(|s| &*s.traffic);
            Arc::new(
                ServiceTraffic::new(&req.traffic, old).map_err(|e| (StatusCode::BAD_REQUEST, e))?,
            )
        };
        let tls = load_tls(&req)?;
        if req.acme {
            self.acme_fits(&hosts, tls.is_some())
                .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        }
        let addrs = req.all_targets();
        if addrs.iter().any(String::is_empty) || addrs[0] != req.target {
            return Err((
                StatusCode::BAD_REQUEST,
                "targets must be HOST:PORT each, the first being target".into(),
            ));
        }
        self.canary_allows(name, &addrs)?;
        let deadline = Duration::from_millis(req.deploy_timeout_ms);
        // Every new target must be healthy before any of them takes requests.
        if let Err(e) =
            health::wait_all_healthy(&self.proxy.client, &addrs, &req.health, deadline).await
        {
            self.proxy
                .metrics
                .deploys_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err((
                StatusCode::GATEWAY_TIMEOUT,
                format!("{e}; the previous target keeps serving"),
            ));
        }
        let (new_target, replicas) = Service::targets_for(&addrs, true);
        let (previous, counts) = {
            let _w = self.writer.lock().await;
            let table = self.proxy.table.load_full();
            if let Some(msg) = table.conflict(name, &hosts, &prefixes) {
                return Err((StatusCode::CONFLICT, msg));
            }
            self.canary_allows(name, &addrs)?;
            let old = table.get(name);
            let previous = old.map(|s| s.targets().to_vec());
            self.retire_finished_canary(old);
            let at_switch = old.map(|s| s.stats.counts()).unwrap_or_default();
            let counts = (self.version_counts(name, at_switch), at_switch);
            let service = Service {
                name: name.to_string(),
                hosts: hosts.clone(),
                path_prefixes: prefixes,
                strip_prefix: req.strip_prefix,
                health: req.health.clone(),
                target: new_target,
                replicas,
                // A service in maintenance (or paused) stays so until it is resumed.
                mode: old.map(|s| s.mode.clone()).unwrap_or_default(),
                stats: old.map(|s| s.stats.clone()).unwrap_or_default(),
                tls_redirect: req.tls_redirect.unwrap_or(true),
                tls,
                acme: req.acme,
                limits: ServiceLimits {
                    response_timeout_ms: req.response_timeout_ms,
                    buffering: req.buffering.clone(),
                },
                traffic,
                canary: None,
            };
            let watched = service.clone();
            if let Err((status, e)) = self.save_and_publish(table.with(service)) {
                return Err((status, format!("{e}; the previous target keeps serving")));
            }
            self.watch(&watched);
            self.proxy
                .metrics
                .deploys_ok
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (previous, counts)
        };
        if req.acme {
            self.proxy.acme.want_now(&hosts);
        }
        let drain = Duration::from_millis(req.drain_timeout_ms);
        let old = previous.unwrap_or_default();
        if req.bake.is_some() && !old.is_empty() {
            return Ok(self.start_bake(name, req, old, addrs, counts, drain));
        }
        let left = crate::replicas::drain_replaced(&old, &addrs, drain).await;
        Ok(deploy_answer(name, req, addrs, &old, left))
    }

    pub async fn remove(&self, name: &str) -> Result<RemoveAnswer, (StatusCode, String)> {
        let _w = self.writer.lock().await;
        let table = self.proxy.table.load_full();
        let Some(old) = table.services.iter().find(|s| s.name == name).map(|s| {
            let canary = s.canary.as_ref().map_or(&[][..], |c| c.targets());
            [s.targets(), canary].concat()
        }) else {
            return Err((StatusCode::NOT_FOUND, format!("no service {name}")));
        };
        self.save_and_publish(table.without(name))?;
        for t in old {
            t.retire();
            t.close_upgraded();
        }
        Ok(RemoveAnswer {
            service: name.to_string(),
            removed: true,
        })
    }

    /// Put a service in `mode` (pause, stop with a message, resume).
    pub async fn set_mode(
        &self,
        name: &str,
        mode: ServiceMode,
    ) -> Result<ModeAnswer, (StatusCode, String)> {
        let _w = self.writer.lock().await;
        let table = self.proxy.table.load_full();
        let Some(next) = table.with_mode(name, mode.clone()) else {
            return Err((StatusCode::NOT_FOUND, format!("no service {name}")));
        };
        self.save_and_publish(next)?;
        Ok(ModeAnswer {
            service: name.to_string(),
            mode: mode.name().to_string(),
        })
    }

    /// Can a service with `hosts` get ACME certificates here?
    fn acme_fits(&self, hosts: &[String], has_files: bool) -> Result<(), String> {
        if has_files {
            return Err("acme and certificate files exclude each other: give one".into());
        }
        if self.proxy.acme.settings.get().is_none() || self.proxy.https_port.get().is_none() {
            return Err(
                "this proxy does not obtain certificates: run it with --https (and --acme-* \
                 settings if not Let's Encrypt)"
                    .into(),
            );
        }
        if hosts.is_empty() {
            return Err("acme needs the service's host names (--host)".into());
        }
        match hosts.iter().find_map(|h| crate::acme::unfit_host(h)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What a deploy answers: the targets switched to and from, the drain's leftovers.
fn deploy_answer(
    name: &str,
    req: DeployRequest,
    addrs: Vec<String>,
    old: &[Arc<crate::upstream::Upstream>],
    left: usize,
) -> DeployAnswer {
    let several = |addrs: Vec<String>| if addrs.len() > 1 { addrs } else { Vec::new() };
    DeployAnswer {
        service: name.to_string(),
        target: req.target,
        targets: several(addrs),
        previous: old.first().map(|t| t.addr.clone()),
        previous_targets: several(old.iter().map(|t| t.addr.clone()).collect()),
        unfinished_after_drain: left as u64,
        baking_ms: None,
        acme: req
            .acme
            .then(|| "certificates are being obtained in the background; `list` shows them".into()),
    }
}

/// A deploy's certificate files, loaded (both or neither).
fn load_tls(
    req: &DeployRequest,
) -> Result<Option<Arc<crate::tls::cert::TlsCert>>, (StatusCode, String)> {
    match (&req.tls_cert, &req.tls_key) {
        (Some(c), Some(k)) => Ok(Some(
            crate::tls::cert::load(c, k).map_err(|e| (StatusCode::BAD_REQUEST, e))?,
        )),
        (None, None) => Ok(None),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "tls_cert and tls_key go together: give both or neither".into(),
        )),
    }
}

async fn route(
    control: Arc<Control>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, hyper::Error> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    tracing::debug!(method = %method, path = %path, "control request");
    let endpoint = Endpoint::parse(method.as_str(), &path);
    let mutating = !matches!(
        endpoint,
        Some(
            Endpoint::Health
                | Endpoint::List
                | Endpoint::Stats(_)
                | Endpoint::Bake(_)
                | Endpoint::Handover
                | Endpoint::Promote
        ) | None
    );
    if mutating && control.proxy.drain.handed_over() {
        return Ok(reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &ErrorBody {
                error: "this proxy handed over to a new proxy process; send the request again"
                    .into(),
            },
        ));
    }
    let lifecycle = control.lifecycle.get().cloned();
    let result = match endpoint {
        Some(Endpoint::Handover) => match &lifecycle {
            Some(l) => Ok(ok(&l.hand_over(&control.proxy))),
            None => Err((StatusCode::CONFLICT, "this proxy cannot hand over".into())),
        },
        Some(Endpoint::Promote) => match &lifecycle {
            Some(l) => l.promote(|| control.reload_if_changed()).map(|a| ok(&a)),
            None => Err((StatusCode::CONFLICT, "this proxy cannot take over".into())),
        },
        Some(Endpoint::Health) => Ok(ok(&HealthAnswer {
            bake: true,
            canary: true,
            ok: true,
            replicas: true,
            service_limits: true,
            traffic: true,
        })),
        Some(Endpoint::List) => Ok(ok(&control.list())),
        Some(Endpoint::Bake(name)) => Ok(ok(&control.bake_status(name))),
        Some(Endpoint::Deploy(name)) => {
            let body = req.into_body().collect().await?.to_bytes();
            match serde_json::from_slice::<DeployRequest>(&body) {
                Ok(d) => control.deploy(name, d).await.map(|a| ok(&a)),
                Err(e) => Err((StatusCode::BAD_REQUEST, format!("bad deploy request: {e}"))),
            }
        }
        Some(
            e @ (Endpoint::CanaryStart(_)
            | Endpoint::CanaryShare(_)
            | Endpoint::CanaryAbort(_)
            | Endpoint::Stats(_)),
        ) => {
            let body = req.into_body().collect().await?.to_bytes();
            match control.canary_route(e, &body).await {
                Some(r) => r.map(|a| ok(&a)),
                None => Err((
                    StatusCode::NOT_FOUND,
                    format!("no such control endpoint: {method} {path}"),
                )),
            }
        }
        Some(Endpoint::Remove(name)) => control.remove(name).await.map(|a| ok(&a)),
        Some(Endpoint::Pause(name)) => control
            .set_mode(name, ServiceMode::Paused)
            .await
            .map(|a| ok(&a)),
        Some(Endpoint::Resume(name)) => control
            .set_mode(name, ServiceMode::Live)
            .await
            .map(|a| ok(&a)),
        Some(Endpoint::Stop(name)) => {
            let body = req.into_body().collect().await?.to_bytes();
            let stop: StopRequest = if body.is_empty() {
                StopRequest::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(s) => s,
                    Err(e) => {
                        return Ok(reply(
                            StatusCode::BAD_REQUEST,
                            &ErrorBody {
                                error: format!("bad stop request: {e}"),
                            },
                        ))
                    }
                }
            };
            let mode = ServiceMode::Stopped {
                message: stop.message.filter(|m| !m.is_empty()),
            };
            control.set_mode(name, mode).await.map(|a| ok(&a))
        }
        None => Err((
            StatusCode::NOT_FOUND,
            format!("no such control endpoint: {method} {path}"),
        )),
    };
    Ok(result.unwrap_or_else(|(status, error)| reply(status, &ErrorBody { error })))
}

/// Serve the control API on `listener` forever.
pub async fn serve(listener: UnixListener, control: Arc<Control>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let control = control.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| route(control.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
