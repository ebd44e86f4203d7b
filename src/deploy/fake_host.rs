//! Test only: `FakeHost`, an in-memory stand-in for one host's engine and proxy behind
//! [`HostOps`], so the executor and boot are unit-tested without SSH or Docker. It keeps the
//! app's containers (name, version, running) and the proxy's routes, records every call in
//! order, and can be told to fail the proxy's health check or the steady wait.

use super::container::ContainerSpec;
use super::host_ops::{Call, HostOps, Log};
use super::plan::TlsPaths;
use super::settings::{RegistrySettings, TlsFiles};
use crate::docker::engine::AppContainer;
use crate::error::{fail, Kind};
use crate::image::layers::deliver::{Outcome, Source};
use crate::proxy::control::DeployRequest;
use crate::proxy::image::ProxyImage;
use crate::proxy::on_host::{BootOptions, Ensured};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One fake host.
#[derive(Default)]
pub struct FakeHost {
    pub name: String,
    pub containers: Mutex<Vec<AppContainer>>,
    /// Proxy service -> the target it routes to.
    pub routes: Mutex<HashMap<String, String>>,
    /// Every call, in order (`start demo-web-v1`, `proxy_deploy demo-web demo-web-v2:3000`).
    pub calls: Mutex<Vec<String>>,
    /// The proxy's health check of new targets fails.
    pub unhealthy: bool,
    /// What a container printed (for the failure message).
    pub logs: String,
    /// The proxy switches back during the bake window, for this reason.
    pub bake_fails: Option<String>,
    clock: Mutex<i64>,
}

impl FakeHost {
    pub fn new(name: &str) -> Self {
        FakeHost {
            name: name.into(),
            ..FakeHost::default()
        }
    }

    /// A container of `role` at `version` (`<prefix>-<version>`), running or stopped.
    pub fn with(self, prefix: &str, role: &str, version: &str, running: bool) -> Self {
        let created = self.tick();
        self.containers.lock().unwrap().push(AppContainer {
            name: format!("{prefix}-{version}"),
            version: version.into(),
            role: role.into(),
            running,
            state: if running { "running" } else { "exited" }.into(),
            created,
            image: format!("dhow/demo:{version}"),
        });
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn running(&self) -> Vec<String> {
        let list = self.containers.lock().unwrap();
        list.iter()
            .filter(|c| c.running)
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn route(&self, service: &str) -> Option<String> {
        self.routes.lock().unwrap().get(service).cloned()
    }

    fn tick(&self) -> i64 {
        let mut c = self.clock.lock().unwrap();
        *c += 1;
        *c
    }

    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn set_running(&self, name: &str, running: bool) -> anyhow::Result<()> {
        let mut list = self.containers.lock().unwrap();
        let c = list
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| fail(Kind::Remote, format!("No such container: {name}")))?;
        c.running = running;
        c.state = if running { "running" } else { "exited" }.into();
        Ok(())
    }

    fn done<'a, T: Send + 'a>(&'a self, what: String, value: anyhow::Result<T>) -> Call<'a, T> {
        self.call(what);
        Box::pin(async move { value })
    }
}

impl HostOps for FakeHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn containers<'a>(
        &'a self,
        _service: &'a str,
        _destination: Option<&'a str>,
        role: &'a str,
    ) -> Call<'a, Vec<AppContainer>> {
        let mut list: Vec<AppContainer> = self
            .containers
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.role == role)
            .cloned()
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        Box::pin(async move { Ok(list) })
    }

    fn create_and_start<'a>(&'a self, spec: &'a ContainerSpec) -> Call<'a, ()> {
        let created = self.tick();
        self.containers.lock().unwrap().push(AppContainer {
            name: spec.name.clone(),
            version: spec.version.clone(),
            role: spec.role.clone(),
            running: true,
            state: "running".into(),
            created,
            image: spec.image.clone(),
        });
        self.done(format!("create_and_start {}", spec.name), Ok(()))
    }

    fn start<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        let r = self.set_running(name, true);
        self.done(format!("start {name}"), r)
    }

    fn stop<'a>(&'a self, name: &'a str, _grace: Duration) -> Call<'a, ()> {
        let r = self.set_running(name, false);
        self.done(format!("stop {name}"), r)
    }

    fn remove<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        self.containers.lock().unwrap().retain(|c| c.name != name);
        self.done(format!("remove {name}"), Ok(()))
    }

    fn rename<'a>(&'a self, name: &'a str, new_name: &'a str) -> Call<'a, ()> {
        for c in self.containers.lock().unwrap().iter_mut() {
            if c.name == name {
                c.name = new_name.to_string();
            }
        }
        self.done(format!("rename {name} {new_name}"), Ok(()))
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, ()> {
        self.call(format!("remove_image {image}"));
        Box::pin(async {})
    }

    fn wait_steady<'a>(&'a self, name: &'a str, _: Duration, _: Duration) -> Call<'a, ()> {
        self.done(format!("wait_steady {name}"), Ok(()))
    }

    fn logs_tail<'a>(&'a self, name: &'a str, _lines: usize) -> BoxFuture<'a, String> {
        self.call(format!("logs_tail {name}"));
        let logs = self.logs.clone();
        Box::pin(async move { logs })
    }

    fn not_running_reason<'a>(&'a self, _name: &'a str) -> Call<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }

    fn write_env<'a>(&'a self, _lock_key: &'a str, spec: &'a ContainerSpec) -> Call<'a, ()> {
        self.done(format!("write_env {}", spec.role), Ok(()))
    }

    fn pull<'a>(&'a self, image: &'a str, _: &'a RegistrySettings, _: Log<'a>) -> Call<'a, ()> {
        self.done(format!("pull {image}"), Ok(()))
    }

    fn receive<'a>(&'a self, image: &'a str, _: &'a (dyn Fn(u64) + Send + Sync)) -> Call<'a, u64> {
        self.done(format!("receive {image}"), Ok(0))
    }

    fn receive_layers<'a>(
        &'a self,
        source: &'a Source,
        _: &'a (dyn Fn(u64) + Send + Sync),
    ) -> Call<'a, Outcome> {
        let what = format!("receive layers {}", source.image_ref());
        self.done(what, Ok(Outcome::AlreadyThere))
    }

    fn has_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, bool> {
        self.call(format!("has_image {image}"));
        Box::pin(async { true })
    }

    fn ensure_network(&self) -> Call<'_, ()> {
        self.done("ensure_network".into(), Ok(()))
    }

    fn ensure_proxy<'a>(&'a self, _: &'a BootOptions, _: &'a ProxyImage) -> Call<'a, Ensured> {
        self.done("ensure_proxy".into(), Ok(Ensured::AlreadyRunning))
    }

    fn upload_tls<'a>(&'a self, service: &'a str, _files: &'a TlsFiles) -> Call<'a, TlsPaths> {
        let paths = TlsPaths {
            cert: format!("/certs/{service}.crt"),
            key: format!("/certs/{service}.key"),
        };
        self.done(format!("upload_tls {service}"), Ok(paths))
    }

    fn proxy_deploy<'a>(&'a self, service: &'a str, req: &'a DeployRequest) -> Call<'a, ()> {
        let result = if self.unhealthy {
            Err(fail(
                Kind::Deploy,
                format!("target {} failed its health check", req.target),
            ))
        } else {
            self.routes
                .lock()
                .unwrap()
                .insert(service.to_string(), req.target.clone());
            Ok(())
        };
        let targets = req.all_targets().join(",");
        self.done(format!("proxy_deploy {service} {targets}"), result)
    }

    fn proxy_bake<'a>(&'a self, service: &'a str) -> Call<'a, dhow_proxy_api::BakeStatus> {
        let state = match &self.bake_fails {
            Some(_) => "rolled_back",
            None => "passed",
        };
        let status = dhow_proxy_api::BakeStatus {
            state: state.into(),
            reason: self.bake_fails.clone(),
            ..Default::default()
        };
        self.done(format!("proxy_bake {service}"), Ok(status))
    }

    fn proxy_canary_abort<'a>(&'a self, service: &'a str, _drain: Duration) -> Call<'a, ()> {
        self.done(format!("proxy_canary_abort {service}"), Ok(()))
    }

    fn proxy_canary<'a>(
        &'a self,
        service: &'a str,
        req: &'a dhow_proxy_api::CanaryRequest,
    ) -> Call<'a, ()> {
        let result = if self.unhealthy {
            Err(fail(Kind::Deploy, "the canary failed its health check"))
        } else {
            Ok(())
        };
        let targets = req.targets.join(",");
        self.done(
            format!("proxy_canary {service} {targets} {}%", req.percent),
            result,
        )
    }
}
