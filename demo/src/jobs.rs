//! The demo's one-off and background commands, for examples that need an app with a database
//! schema, a worker and scheduled jobs (examples/web-worker-cron):
//!
//! - `dhow-demo migrate`: applies the `*.sql` files of `$MIGRATIONS_DIR` (`/migrations`) in
//!   name order that `schema_migrations` does not list yet, each file and its record in one
//!   transaction, under an advisory lock (two runs at once apply nothing twice). Exits 1 at
//!   the first file that fails, naming it and PostgreSQL's message; the files before it stay
//!   applied, that one and the later ones are not.
//! - `dhow-demo sql "SQL" ["SQL"...]`: runs each argument as its own query (one that must run
//!   outside a transaction, such as VACUUM, alone) and prints the rows (tab-separated).
//! - `dhow-demo worker`: a background worker; with `ENABLE_SCHEDULER=true` its scheduler
//!   records a tick in the `worker_ticks` table every `WORKER_TICK` seconds (default 60).

use crate::pg::{Rows, Session};
use std::time::Duration;

/// Run the subcommand `cmd` with `args`; `None` when `cmd` is not one of these.
pub fn run(cmd: &str, args: &[String]) -> Option<i32> {
    let result = match cmd {
        "migrate" => migrate(),
        "sql" => sql(args),
        "worker" => worker(),
        _ => return None,
    };
    Some(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("demo {cmd}: {e}");
            1
        }
    })
}

fn sql(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err("usage: dhow-demo sql \"SQL\" [\"SQL\"...]".into());
    }
    let mut db = Session::from_env()?;
    for statement in args {
        print_rows(&db.query(statement)?);
    }
    Ok(())
}

fn print_rows(rows: &Rows) {
    for row in rows {
        let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
        println!("{}", cells.join("\t"));
    }
}

/// The migration files, in name order. A name must be plain (letters, digits, `_`, `-`, `.`)
/// since it is recorded in SQL.
fn migration_files(dir: &str) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{dir}: {e}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "{dir}/{name}: a migration's name may hold only letters, digits, _ - ."
            ));
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        files.push((name, text));
    }
    files.sort();
    Ok(files)
}

fn migrate() -> Result<(), String> {
    let dir = std::env::var("MIGRATIONS_DIR").unwrap_or_else(|_| "/migrations".into());
    let files = migration_files(&dir)?;
    let mut db = Session::from_env()?;
    // Held until the session ends: a second `migrate` waits here.
    db.query("SELECT pg_advisory_lock(727274)")?;
    db.query("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")?;
    let done: Vec<String> = db
        .query("SELECT name FROM schema_migrations")?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let (mut applied, mut already) = (0, 0);
    for (name, text) in files {
        if done.contains(&name) {
            already += 1;
            continue;
        }
        let statement = format!(
            "{}\n;\nINSERT INTO schema_migrations (name) VALUES ('{name}')",
            text.trim_end().trim_end_matches(';')
        );
        db.query(&statement)
            .map_err(|e| format!("{name} failed, not applied (nor any after it): {e}"))?;
        println!("migrate: applied {name}");
        applied += 1;
    }
    println!("migrate: {applied} applied, {already} already applied");
    Ok(())
}

fn worker() -> Result<(), String> {
    crate::signals::exit_on_sigterm();
    let scheduler = std::env::var("ENABLE_SCHEDULER").as_deref() == Ok("true");
    let tick: f64 = std::env::var("WORKER_TICK")
        .ok()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(60.0);
    if !scheduler {
        println!(
            "worker {}: scheduler disabled (ENABLE_SCHEDULER is not true)",
            crate::http::version()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    println!(
        "worker {}: scheduler enabled, a tick every {tick}s",
        crate::http::version()
    );
    let record = format!(
        "CREATE TABLE IF NOT EXISTS worker_ticks (id bigserial PRIMARY KEY, version text NOT NULL, at timestamptz NOT NULL DEFAULT now());\
         INSERT INTO worker_ticks (version) VALUES ('{}') RETURNING id",
        crate::http::version().replace('\'', "''")
    );
    loop {
        // A database that is briefly away costs a tick, not the worker.
        match Session::from_env().and_then(|mut db| db.query(&record)) {
            Ok(rows) => {
                let id = rows.first().and_then(|r| r.first().cloned().flatten());
                println!("worker: tick {} recorded", id.unwrap_or_default());
            }
            Err(e) => eprintln!("worker: tick not recorded: {e}"),
        }
        std::thread::sleep(Duration::from_secs_f64(tick));
    }
}
