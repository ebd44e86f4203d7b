//! What the deploy executor and boot ask of one host: the app's containers there, the engine
//! calls that start, stop and replace them, the image's arrival, the network, and the proxy.
//! [`HostConn`] implements it by delegating to `crate::docker`, `crate::proxy::on_host` and the
//! deploy's env-file and registry helpers; unit tests use the in-memory `FakeHost`.
//!
//! It sits here, beside its only users, rather than beside `Exec` in `host/`: its signatures
//! carry deploy, docker and proxy types, and `host/` (the floor those use) must not depend on
//! them, or the folders would import each other.

use super::container::ContainerSpec;
use super::plan::TlsPaths;
use super::settings::{RegistrySettings, TlsFiles};
use crate::docker::engine::{self, AppContainer};
use crate::host::conn::HostConn;
use crate::image::layers::deliver::{deliver, Outcome, Source};
use crate::proxy::control::DeployRequest;
use crate::proxy::image::ProxyImage;
use crate::proxy::on_host::{self as proxy, BootOptions, Ensured};
use dhow_proxy_api::CanaryRequest;
use futures::future::BoxFuture;
use std::time::Duration;

/// A host call's future.
pub type Call<'a, T> = BoxFuture<'a, anyhow::Result<T>>;
/// Where a long call's detail lines go (shown with `-v`).
pub type Log<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// The calls deploy makes on one host.
pub trait HostOps: Send + Sync {
    /// The host as the user wrote it, for messages.
    fn name(&self) -> &str;
    /// The role's containers (running or not), newest first.
    fn containers<'a>(
        &'a self,
        service: &'a str,
        destination: Option<&'a str>,
        role: &'a str,
    ) -> Call<'a, Vec<AppContainer>>;
    fn create_and_start<'a>(&'a self, spec: &'a ContainerSpec) -> Call<'a, ()>;
    fn start<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    fn stop<'a>(&'a self, name: &'a str, grace: Duration) -> Call<'a, ()>;
    fn remove<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    fn rename<'a>(&'a self, name: &'a str, new_name: &'a str) -> Call<'a, ()>;
    /// Best effort: an image another container uses stays.
    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, ()>;
    /// Healthy, or running for `settle`; an error when it exits, restarts or `deadline` passes.
    fn wait_steady<'a>(
        &'a self,
        name: &'a str,
        settle: Duration,
        deadline: Duration,
    ) -> Call<'a, ()>;
    fn logs_tail<'a>(&'a self, name: &'a str, lines: usize) -> BoxFuture<'a, String>;
    /// Why the container is not (or no longer) running, if it is not.
    fn not_running_reason<'a>(&'a self, name: &'a str) -> Call<'a, Option<String>>;
    /// Write the role's env file (0600) that the container starts with.
    fn write_env<'a>(&'a self, lock_key: &'a str, spec: &'a ContainerSpec) -> Call<'a, ()>;
    /// Pull `image` from the registry.
    fn pull<'a>(
        &'a self,
        image: &'a str,
        registry: &'a RegistrySettings,
        log: Log<'a>,
    ) -> Call<'a, ()>;
    /// Stream `image` from the local engine (not sent again when the host has it), calling
    /// `sent` with the bytes sent so far; returns the total sent.
    fn receive<'a>(
        &'a self,
        image: &'a str,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> Call<'a, u64>;
    /// Send the host the layers of `source`'s image it lacks (the whole image when it cannot
    /// pull them), calling `sent` with the bytes sent so far.
    fn receive_layers<'a>(
        &'a self,
        source: &'a Source,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> Call<'a, Outcome>;
    fn has_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, bool>;
    fn ensure_network(&self) -> Call<'_, ()>;
    /// Network and a running, ready proxy (loading `image` into the host when it lacks it).
    fn ensure_proxy<'a>(
        &'a self,
        options: &'a BootOptions,
        image: &'a ProxyImage,
    ) -> Call<'a, Ensured>;
    /// Put a service's certificate files into the proxy; returns their paths there.
    fn upload_tls<'a>(&'a self, service: &'a str, files: &'a TlsFiles) -> Call<'a, TlsPaths>;
    /// Ask the proxy to health-check and switch; returns after the switch and the drain.
    fn proxy_deploy<'a>(&'a self, service: &'a str, req: &'a DeployRequest) -> Call<'a, ()>;
    /// The proxy's last bake window of a service: how it goes or went.
    fn proxy_bake<'a>(&'a self, service: &'a str) -> Call<'a, dhow_proxy_api::BakeStatus>;
    /// Ask the proxy to send every client back to the stable side (it drains the canary).
    fn proxy_canary_abort<'a>(&'a self, service: &'a str, drain: Duration) -> Call<'a, ()>;
    /// Ask the proxy to health-check a canary and send it its share of clients.
    fn proxy_canary<'a>(&'a self, service: &'a str, req: &'a CanaryRequest) -> Call<'a, ()>;
}

impl HostOps for HostConn {
    fn name(&self) -> &str {
        &self.name
    }

    fn containers<'a>(
        &'a self,
        service: &'a str,
        destination: Option<&'a str>,
        role: &'a str,
    ) -> Call<'a, Vec<AppContainer>> {
        Box::pin(engine::service_containers(
            &self.docker,
            service,
            destination,
            Some(role),
        ))
    }

    fn create_and_start<'a>(&'a self, spec: &'a ContainerSpec) -> Call<'a, ()> {
        match spec.cron {
            Some(_) => Box::pin(super::cron::create_and_start(self, spec)),
            None => Box::pin(engine::create_and_start(&self.docker, spec)),
        }
    }

    fn start<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(engine::start(&self.docker, name))
    }

    fn stop<'a>(&'a self, name: &'a str, grace: Duration) -> Call<'a, ()> {
        Box::pin(engine::stop(&self.docker, name, grace))
    }

    fn remove<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(engine::remove(&self.docker, name))
    }

    fn rename<'a>(&'a self, name: &'a str, new_name: &'a str) -> Call<'a, ()> {
        Box::pin(engine::rename(&self.docker, name, new_name))
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Docker refuses while another container uses the image, which is fine.
            let _ = crate::docker::images::remove(&self.docker, image).await;
        })
    }

    fn wait_steady<'a>(
        &'a self,
        name: &'a str,
        settle: Duration,
        deadline: Duration,
    ) -> Call<'a, ()> {
        Box::pin(engine::wait_steady(&self.docker, name, settle, deadline))
    }

    fn logs_tail<'a>(&'a self, name: &'a str, lines: usize) -> BoxFuture<'a, String> {
        Box::pin(engine::logs_tail(&self.docker, name, lines))
    }

    fn not_running_reason<'a>(&'a self, name: &'a str) -> Call<'a, Option<String>> {
        Box::pin(engine::not_running_reason(&self.docker, name))
    }

    fn write_env<'a>(&'a self, lock_key: &'a str, spec: &'a ContainerSpec) -> Call<'a, ()> {
        Box::pin(super::envfile::write(self.shell.as_ref(), lock_key, spec))
    }

    fn pull<'a>(
        &'a self,
        image: &'a str,
        registry: &'a RegistrySettings,
        log: Log<'a>,
    ) -> Call<'a, ()> {
        Box::pin(async move {
            super::delivery::pull_from_registry(self, image, registry, log).await?;
            crate::docker::arch::check_image(&self.docker, &self.name, image).await
        })
    }

    fn receive<'a>(
        &'a self,
        image: &'a str,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> Call<'a, u64> {
        Box::pin(async move {
            let local = crate::docker::connect_local().await?;
            let total = crate::image::transfer::copy(&local, &self.docker, image, |ev| {
                if let crate::image::transfer::TransferEvent::Sent { bytes } = ev {
                    sent(bytes)
                }
            })
            .await?;
            crate::docker::arch::check_image(&self.docker, &self.name, image).await?;
            Ok(total)
        })
    }

    fn receive_layers<'a>(
        &'a self,
        source: &'a Source,
        sent: &'a (dyn Fn(u64) + Send + Sync),
    ) -> Call<'a, Outcome> {
        Box::pin(async move {
            let local = crate::docker::connect_local().await?;
            let forward = |port, local: String| async move {
                self.shell.forward_remote_port(port, &local).await
            };
            let image = source.image_ref();
            let files = super::host_files::ShellFiles(self.shell.as_ref());
            let outcome =
                deliver(source, &local, &self.docker, Some(&files), forward, sent).await?;
            crate::docker::arch::check_image(&self.docker, &self.name, image).await?;
            Ok(outcome)
        })
    }

    fn has_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(crate::docker::images::present(&self.docker, image))
    }

    fn ensure_network(&self) -> Call<'_, ()> {
        Box::pin(async move {
            crate::docker::network::ensure(&self.docker).await?;
            Ok(())
        })
    }

    fn ensure_proxy<'a>(
        &'a self,
        options: &'a BootOptions,
        image: &'a ProxyImage,
    ) -> Call<'a, Ensured> {
        Box::pin(proxy::ensure(self, options, image))
    }

    fn upload_tls<'a>(&'a self, service: &'a str, files: &'a TlsFiles) -> Call<'a, TlsPaths> {
        Box::pin(async move {
            let (cert, key) = proxy::upload_tls(self, service, files).await?;
            Ok(TlsPaths { cert, key })
        })
    }

    fn proxy_deploy<'a>(&'a self, service: &'a str, req: &'a DeployRequest) -> Call<'a, ()> {
        Box::pin(async move {
            let name = super::routes::name_on(self, service).await;
            proxy::deploy(self, &name, req).await.map(|_| ())
        })
    }

    fn proxy_bake<'a>(&'a self, service: &'a str) -> Call<'a, dhow_proxy_api::BakeStatus> {
        Box::pin(async move {
            let name = super::routes::name_on(self, service).await;
            crate::proxy::canary::bake(self, &name).await
        })
    }

    fn proxy_canary_abort<'a>(&'a self, service: &'a str, drain: Duration) -> Call<'a, ()> {
        Box::pin(async move {
            let name = super::routes::name_on(self, service).await;
            crate::proxy::canary::abort(self, &name, drain)
                .await
                .map(|_| ())
        })
    }

    fn proxy_canary<'a>(&'a self, service: &'a str, req: &'a CanaryRequest) -> Call<'a, ()> {
        Box::pin(async move {
            let name = super::routes::name_on(self, service).await;
            crate::proxy::canary::start(self, &name, req)
                .await
                .map(|_| ())
        })
    }
}
