//! The demo app dhow deploys to its sandbox: a tiny HTTP/1.1 keep-alive server with no
//! dependencies beyond libc, built as a static binary so its image can be `FROM scratch`.
//!
//! - `GET /`        answers `<name> <version>`: the name is `$APP_NAME` (`demo`), the version
//!   `$DHOW_VERSION`, else `$APP_VERSION`.
//! - `GET /up`      health (liveness; also `/health/live`): 200 `ok` (503 when `DEMO_HEALTHY=false`).
//! - `GET /health/ready` readiness: 503 until `READY_DELAY` seconds after the process started
//!   (its liveness answers at once), and while the Redis that `REDIS_HOST` names (if set) does
//!   not answer PING; then 200 `ready`.
//! - `GET /cache`   increments the counter `hits` in that Redis and answers its value.
//! - `GET /slow?ms=N` answers after N milliseconds (for drain tests).
//! - `GET /db`      the rows of `$DEMO_DB_QUERY` (default `SELECT note FROM notes ORDER BY id`)
//!   from the PostgreSQL that `DATABASE_*` names (an accessory), one per line; 503 on error.
//! - Env: `PORT` (3000), `START_DELAY` seconds before listening, `CRASH_ON_START=1` exits 1 at once,
//!   `DEMO_FAIL_PERCENT=P` answers 500 to P % of `GET /` (its health check still passes).
//!
//! One log line per request on stdout; SIGTERM exits cleanly.
//!
//! `dhow-demo migrate`, `sql "SQL"` and `worker`: a schema's migrations, a one-off query
//! and a background worker with a scheduler (src/jobs.rs).
//!
//! `dhow-demo console` is a stand-in for a console like `rails console`: it says whether its
//! stdin is a terminal, then answers each line with `= LINE` until `exit` or end of input.

mod http;
mod jobs;
mod pg;
mod ready;
mod redis;
mod signals;

use std::net::TcpListener;
use std::time::Duration;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("console") {
        console();
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((cmd, rest)) = args.split_first() {
        if let Some(code) = jobs::run(cmd, rest) {
            std::process::exit(code);
        }
    }
    if std::env::var("CRASH_ON_START").as_deref() == Ok("1") {
        eprintln!("demo: CRASH_ON_START=1, exiting with status 1");
        std::process::exit(1);
    }
    signals::exit_on_sigterm();
    ready::mark_start();
    let delay: f64 = std::env::var("START_DELAY")
        .ok()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or(0.0);
    if delay > 0.0 {
        println!("demo: waiting {delay}s before listening (START_DELAY)");
        std::thread::sleep(Duration::from_secs_f64(delay));
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let version = http::version();
    println!("demo {version}: listening on port {port}");
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                std::thread::spawn(move || http::serve(s));
            }
            Err(e) => eprintln!("demo: accept failed: {e}"),
        }
    }
}

fn console() {
    use std::io::{BufRead, Write};
    // SAFETY: isatty only inspects file descriptor 0.
    let tty = unsafe { libc::isatty(0) } == 1;
    println!(
        "demo console {} (tty: {})",
        http::version(),
        if tty { "yes" } else { "no" }
    );
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches('\r');
        if line == "exit" {
            break;
        }
        println!("= {line}");
        let _ = std::io::stdout().flush();
    }
}
