//! Cron roles' contract between the CLI and the scheduler that runs inside each cron role's
//! container (`dhow-proxy cron serve|now`, proxy/src/cron/): the schedule syntax (standard
//! 5-field cron, UTC, parsed by croner on both sides so validation, `dhow cron list`'s next
//! run and the host's scheduler agree), where the scheduler's binary and state live in the
//! container, its command line, and the record it keeps of every run (one JSON line each),
//! which the CLI reads back for `dhow cron list|logs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where dhow puts its static binary in a cron container (uploaded before the container starts).
pub const BINARY_DIR: &str = "/.dhow";
/// The binary itself.
pub const BINARY: &str = "/.dhow/dhow-proxy";
/// The container's state directory: bind-mounted from the app's directory on the host, shared
/// by every version's container of the role (so one run at a time holds across a deploy).
pub const STATE_DIR: &str = "/.dhow/state";
/// In the state directory: the run records, one JSON line per run, newest last.
pub const HISTORY_FILE: &str = "history.jsonl";
/// In the state directory: one file of output per run, `<id>.log`.
pub const RUNS_DIR: &str = "runs";
/// In the state directory: the file whose lock is held while a run goes.
pub const LOCK_FILE: &str = "run.lock";
/// Exit status of `cron now` when a run is already going (nothing was started).
pub const BUSY_EXIT: i32 = 75;
/// Runs whose records and output are kept, unless the config says otherwise.
pub const DEFAULT_KEEP: usize = 20;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(croner::Cron);

/// Parse a standard 5-field cron schedule (minute hour day-of-month month day-of-week, names
/// like `MON`/`JAN` and `*/5`, `1-5`, `1,15` allowed; day-of-month and day-of-week OR-ed as in
/// Vixie cron). No seconds field and no `@hourly`-style nicknames.
pub fn parse(schedule: &str) -> Result<Schedule, String> {
    let fields = schedule.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "`{schedule}` has {fields} fields; a schedule has 5: minute hour day-of-month month \
             day-of-week (e.g. \"0 * * * *\" for every hour)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(schedule)
        .map(Schedule)
        .map_err(|e| format!("`{schedule}`: {e}"))
}

impl Schedule {
    /// The first time strictly after `t` the schedule is due (UTC); `None` if never.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.find_next_occurrence(&t, false).ok()
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Its schedule.
    Scheduled,
    /// `dhow cron run`.
    Manual,
}

/// One run as the scheduler records it (a line of [`HISTORY_FILE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique per role on a host; its output is `runs/<id>.log`.
    pub id: String,
    pub trigger: Trigger,
    /// The version (the container's `DHOW_VERSION`) that ran, or would have.
    pub version: String,
    /// RFC 3339, UTC.
    pub started: String,
    /// RFC 3339, UTC; `None` for a skipped run.
    pub finished: Option<String>,
    /// The command's exit status; `None` when it did not start, or died of a signal.
    pub exit_code: Option<i32>,
    /// Why it did not run, or did not finish normally (e.g. "skipped: the previous run is
    /// still going").
    pub note: Option<String>,
}

impl RunRecord {
    /// A run that exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The container's entrypoint for a cron role: the scheduler, then (as the container's `cmd`)
/// the role's command.
pub fn serve_entrypoint(schedule: &str, keep: usize) -> Vec<String> {
    [
        BINARY,
        "cron",
        "serve",
        "--schedule",
        schedule,
        "--keep",
        &keep.to_string(),
        "--state",
        STATE_DIR,
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The `docker exec` command for one run now, from a cron container's entrypoint and cmd (as
/// the engine reports them): the same scheduler flags and command with `serve` turned into
/// `now`. `None` when the entrypoint is not a cron scheduler's.
pub fn now_command(entrypoint: &[String], cmd: &[String]) -> Option<Vec<String>> {
    if entrypoint.first().map(String::as_str) != Some(BINARY)
        || entrypoint.get(1).map(String::as_str) != Some("cron")
        || entrypoint.get(2).map(String::as_str) != Some("serve")
    {
        return None;
    }
    let mut out = entrypoint.to_vec();
    out[2] = "now".into();
    out.extend(cmd.iter().cloned());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn standard_five_fields_parse_and_give_the_next_run_in_utc() {
        let s = parse("0 * * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-12-03T08:59:59Z")),
            Some(at("2026-12-03T09:00:00Z"))
        );
        // Strictly after: a run due now is not due again now.
        assert_eq!(
            s.next_after(at("2026-12-03T09:00:00Z")),
            Some(at("2026-12-03T10:00:00Z"))
        );
        let s = parse("*/15 9-17 * * MON-FRI").unwrap();
        // 2026-12-05 is a Saturday: the next is Monday 09:00.
        assert_eq!(
            s.next_after(at("2026-12-04T17:50:00Z")),
            Some(at("2026-12-07T09:00:00Z"))
        );
    }

    #[test]
    fn other_shapes_are_refused_with_the_reason() {
        for bad in [
            "* * * *",
            "0 0 * * * *",
            "@hourly",
            "61 * * * *",
            "* * * * FOO",
            "",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert!(parse("* * * *").unwrap_err().contains("5"));
    }

    #[test]
    fn a_run_now_is_the_serve_command_with_now() {
        let ep = serve_entrypoint("* * * * *", 5);
        let cmd = vec!["sh".to_string(), "-c".into(), "echo hi".into()];
        let now = now_command(&ep, &cmd).unwrap();
        assert_eq!(&now[..3], &[BINARY, "cron", "now"]);
        assert_eq!(now[now.len() - 4..], ["--", "sh", "-c", "echo hi"]);
        assert!(now_command(&["/app".into()], &cmd).is_none());
    }

    #[test]
    fn records_round_trip_as_json_lines() {
        let r = RunRecord {
            id: "20261203T090000Z-1".into(),
            trigger: Trigger::Scheduled,
            version: "abc".into(),
            started: "2026-12-03T09:00:00Z".into(),
            finished: None,
            exit_code: None,
            note: Some("skipped".into()),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"trigger\":\"scheduled\""));
        assert_eq!(serde_json::from_str::<RunRecord>(&line).unwrap(), r);
    }
}
