//! `dhow audit`: the last lines of the audit log of every selected host (with `--json`, one
//! `audit` event per entry, its fields parsed).

use super::context::Ctx;
use crate::deploy::audit;

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// How many lines per host.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub lines: usize,
}

pub async fn run(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<()> {
    let plan = ctx.targets()?;
    let conns = ctx.connect(&plan.host_names()).await?;
    for host in plan.host_names() {
        if let Some(conn) = conns.get(&host) {
            let text = audit::tail(conn.shell.as_ref(), &plan.lock_key, args.lines).await?;
            for line in text.lines() {
                let mut entry = audit::parse_line(line);
                entry["host"] = host.as_str().into();
                ctx.out
                    .data("audit", &entry, || ctx.out.host_line(&host, "stdout", line));
            }
        }
    }
    Ok(())
}
