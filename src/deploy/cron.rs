//! Cron roles on a host. A cron role's container is the deployed version's image with a
//! scheduler as its entrypoint (`dhow-proxy cron serve`, uploaded into the container before it
//! starts) and the role's `cmd` as the job it runs on the schedule, in that same container.
//!
//! Why this shape: it needs nothing on the host but Docker (no systemd timers or crond, which
//! neither the sandbox hosts nor every fresh server have, and no daemon outside Docker); the
//! container's restart policy brings the scheduler back after a reboot; the schedule follows
//! deploys and rollbacks because it *is* the role's container (started, health-checked as
//! "runs steadily", the old one stopped, kept for rollback, removed by `dhow remove`), so no
//! separate state can drift; and the run sees exactly the role's env, options and image. Runs
//! go one at a time through a lock on the role's state directory on the host
//! (`~/.dhow/<app>/cron/<role>`, bind-mounted into every version's container: it holds across
//! a deploy's overlap of old and new), where the records and output of the last `keep_runs`
//! runs are kept for `dhow cron list|logs`. `dhow cron run` execs `cron now` in the running
//! container. The scheduler computes the next run from the current time when it starts, so
//! runs missed while a host was down are not made up (or doubled).
//!
//! The job's command replaces the image's ENTRYPOINT (as `command` does in Kubernetes).

use super::container::ContainerSpec;
use crate::docker::containers;
use crate::docker::spec::create_body;
use crate::error::{fail, Kind};
use crate::host::conn::HostConn;
use crate::host::remote::Exec;
use crate::host::shell::quote;
use dhow_proxy_api::cron::{RunRecord, BINARY, HISTORY_FILE, RUNS_DIR, STATE_DIR};

/// A cron role's state directory, relative to the SSH user's home.
pub fn state_dir(owner: &str, role: &str) -> String {
    format!("{}/cron/{role}", crate::host::state_dir::dir(owner))
}

/// Create a cron role's container: its state directory made on the host and mounted, the
/// scheduler binary for the host's architecture put into it, then started.
pub async fn create_and_start(host: &HostConn, spec: &ContainerSpec) -> anyhow::Result<()> {
    let Some(cron) = &spec.cron else {
        return Err(fail(
            Kind::Internal,
            format!("{} is not a cron role's", spec.name),
        ));
    };
    let home = crate::accessory::place::home(host.shell.as_ref()).await?;
    let rel = state_dir(&cron.owner, &spec.role);
    // Writable by whatever user the image runs as; the app directory above stays 0700.
    let prepared = host
        .shell
        .exec_step(
            "prepare the cron role's directory",
            &format!(
                "{}mkdir -p {d} && chmod 777 {d}",
                crate::host::state_dir::prepare(&cron.owner),
                d = quote(&rel)
            ),
            None,
        )
        .await?;
    if !prepared.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: cannot prepare {rel}: {}",
                host.name,
                prepared.stderr.trim()
            ),
        ));
    }
    let mut with_state = spec.clone();
    with_state
        .options
        .entry("volume".into())
        .or_default()
        .push(format!("{home}/{rel}:{STATE_DIR}"));
    let body = create_body(&with_state)?;
    containers::create(
        &host.docker,
        &spec.name,
        body,
        &format!("create container {}", spec.name),
    )
    .await?;
    let arch = crate::docker::arch::engine(&host.docker).await?;
    let binary = crate::proxy::image::binary_for(&arch)?;
    containers::upload(
        &host.docker,
        &spec.name,
        "/",
        scheduler_archive(&binary.bytes)?,
        &format!("put the scheduler into {}", spec.name),
    )
    .await?;
    containers::start(&host.docker, &spec.name).await
}

/// A tar holding the scheduler at [`BINARY`] (its directory included, so an empty image gets it).
fn scheduler_archive(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut t = tar::Builder::new(Vec::new());
    let rel = BINARY.trim_start_matches('/');
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    t.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bytes.len() as u64);
    t.append_data(&mut h, rel, bytes)?;
    Ok(t.into_inner()?)
}

/// The newest `n` run records of `role` on a host, oldest first (none before its first run).
pub async fn history(
    shell: &dyn Exec,
    owner: &str,
    role: &str,
    n: usize,
) -> anyhow::Result<Vec<RunRecord>> {
    let file = format!("{}/{HISTORY_FILE}", state_dir(owner, role));
    let out = shell
        .exec_step(
            "read the cron role's runs",
            &format!("tail -n {n} {} 2>/dev/null || true", quote(&file)),
            None,
        )
        .await?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The kept output of one run (empty when it was trimmed or printed nothing).
pub async fn run_output(
    shell: &dyn Exec,
    owner: &str,
    role: &str,
    id: &str,
) -> anyhow::Result<String> {
    let file = format!("{}/{RUNS_DIR}/{id}.log", state_dir(owner, role));
    let out = shell
        .exec_step(
            "read a cron run's output",
            &format!("cat {} 2>/dev/null || true", quote(&file)),
            None,
        )
        .await?;
    Ok(out.stdout)
}

/// Run a cron role's command once now in its running container `name` (`cron now`: through
/// the role's lock, recorded like a scheduled run), each output line to `on_line`; the run's
/// exit status ([`dhow_proxy_api::cron::BUSY_EXIT`] when a run was going already).
pub async fn run_now(
    host: &HostConn,
    name: &str,
    on_line: impl FnMut(&str),
) -> anyhow::Result<i64> {
    let info = containers::inspect(&host.docker, name)
        .await?
        .and_then(|i| i.config)
        .ok_or_else(|| fail(Kind::Remote, format!("{}: no container {name}", host.name)))?;
    let entrypoint = info.entrypoint.unwrap_or_default();
    let cmd = info.cmd.unwrap_or_default();
    let Some(now) = dhow_proxy_api::cron::now_command(&entrypoint, &cmd) else {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: {name} is not a cron role's container (deployed before the role had a \
                 schedule? deploy again)",
                host.name
            ),
        ));
    };
    crate::docker::exec::exec_in(&host.docker, name, &now, &[], on_line).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_the_scheduler_executable_in_its_directory() {
        let tar_bytes = scheduler_archive(b"\x7fELF-not-really").unwrap();
        let mut a = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<(String, u32)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                (".dhow/".to_string(), 0o755),
                (".dhow/dhow-proxy".to_string(), 0o755)
            ]
        );
        assert_eq!(
            state_dir("app-staging", "backup"),
            ".dhow/app-staging/cron/backup"
        );
    }
}
