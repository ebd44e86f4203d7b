//! The CronJob of a cron role: its pod is the role's Deployment's pod (image, env, labels,
//! resources, pull secret: workload.rs), with `cmd` as the container's `command` (it replaces
//! the image's ENTRYPOINT, as dhow's scheduler runs it on hosts), `restartPolicy: Never` and
//! one attempt per run (`backoffLimit: 0`). `concurrencyPolicy: Forbid` is dhow's one run at a
//! time, `startingDeadlineSeconds` makes a run missed by more than a minute a skipped one (not
//! made up later, as on hosts), the schedule is in UTC (`timeZone: Etc/UTC`), and the jobs kept
//! follow `keep_runs`.

use super::workload::{deployment, RoleInput};
use crate::error::{fail, Kind};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};

/// A run that cannot start within this long of its time is skipped.
const STARTING_DEADLINE_SECONDS: i64 = 60;

pub fn cronjob(i: &RoleInput, notes: &mut Vec<String>) -> anyhow::Result<CronJob> {
    let Some(cron) = &i.role.cron else {
        return Err(fail(
            Kind::Internal,
            format!("role {} has no schedule", i.role.name),
        ));
    };
    let d = deployment(i, notes)?;
    let mut template = d.spec.template;
    if let Some(pod) = template.spec.as_mut() {
        pod.restart_policy = Some("Never".into());
        for c in &mut pod.containers {
            c.command = c.args.take();
        }
    }
    let kept = i32::try_from(cron.keep_runs).unwrap_or(i32::MAX);
    Ok(CronJob {
        metadata: d.metadata,
        spec: CronJobSpec {
            schedule: cron.schedule.clone(),
            time_zone: Some("Etc/UTC".into()),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(kept),
            failed_jobs_history_limit: Some(kept),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    template,
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    })
}
