//! `dhow lock status|acquire|release`: look at or hold the deploy lock by hand (e.g. during
//! maintenance), on the primary host where deploys take it; and [`hold`], the lock every
//! command that changes what runs (prune, remove, app stop/start/remove, proxy reboot,
//! accessory boot/reboot/start/stop/restart/remove) takes like deploy does.

use super::context::Ctx;
use crate::deploy::lock::{self, LockInfo};
use crate::error::{fail, Kind};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum LockCommand {
    /// Show who holds the deploy lock, if anyone.
    Status,
    /// Take the deploy lock so nobody deploys until it is released.
    Acquire {
        /// Why (shown to whoever is refused).
        #[arg(short = 'm', long)]
        message: String,
    },
    /// Release the deploy lock you hold (someone else's only with --force).
    Release {
        /// Release it even if someone else holds it.
        #[arg(long)]
        force: bool,
    },
}

/// Run `work` holding the deploy lock (exit 6 when somebody holds it), as `what`.
pub async fn hold<F, Fut>(ctx: &Ctx, what: &str, work: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let plan = ctx.targets()?;
    let conns = ctx
        .connect(std::slice::from_ref(&plan.primary_host))
        .await?;
    let host = conns
        .get(&plan.primary_host)
        .ok_or_else(|| fail(Kind::Internal, "no connection to the primary host"))?;
    let shell = host.shell.as_ref();
    let info = LockInfo::now(
        ctx.performer(),
        super::context::now_rfc3339(),
        None,
        what.to_string(),
    );
    lock::acquire(shell, &plan.lock_key, &info).await?;
    let result = work().await;
    let released = lock::release(shell, &plan.lock_key).await;
    result.and(released)
}

pub async fn run(ctx: &Ctx, cmd: &LockCommand) -> anyhow::Result<()> {
    let plan = ctx.targets()?;
    let conns = ctx
        .connect(std::slice::from_ref(&plan.primary_host))
        .await?;
    let host = conns
        .get(&plan.primary_host)
        .ok_or_else(|| fail(Kind::Internal, "no connection to the primary host"))?;
    let shell = host.shell.as_ref();
    match cmd {
        LockCommand::Status => {
            let holder = lock::status(shell, &plan.lock_key).await?;
            let record = serde_json::json!({
                "host": plan.primary_host, "key": plan.lock_key,
                "locked": holder.is_some(), "holder": holder,
            });
            ctx.out.data("lock", &record, || match &holder {
                Some(info) => println!(
                    "{}",
                    lock::held_message(&plan.lock_key, &plan.primary_host, Some(info))
                ),
                None => println!("{} is not locked", plan.lock_key),
            });
        }
        LockCommand::Acquire { message } => {
            let info = LockInfo::now(
                ctx.performer(),
                super::context::now_rfc3339(),
                None,
                message.clone(),
            );
            lock::acquire(shell, &plan.lock_key, &info).await?;
            ctx.out
                .info(format!("locked {} on {}", plan.lock_key, plan.primary_host));
        }
        LockCommand::Release { force } => {
            lock::release_as(shell, &plan.lock_key, &ctx.performer(), *force).await?;
            ctx.out.info(format!(
                "released {} on {}",
                plan.lock_key, plan.primary_host
            ));
        }
    }
    Ok(())
}
