//! The demo app dhow deploys to its sandbox: a tiny HTTP/1.1 keep-alive server with no
//! dependencies beyond libc, built as a static binary so its image can be `FROM scratch`.
//!
//! - `GET /`        answers `demo <version>`; the version is `$DHOW_VERSION`, else `$APP_VERSION`.
//! - `GET /up`      health: 200 `ok` (503 when `DEMO_HEALTHY=false`).
//! - `GET /slow?ms=N` answers after N milliseconds (for drain tests).
//! - `GET /db`      the rows of `$DEMO_DB_QUERY` (default `SELECT note FROM notes ORDER BY id`)
//!   from the PostgreSQL that `DATABASE_*` names (an accessory), one per line; 503 on error.
//! - Env: `PORT` (3000), `START_DELAY` seconds before listening, `CRASH_ON_START=1` exits 1 at once.
//!
//! One log line per request on stdout; SIGTERM exits cleanly.

mod http;
mod pg;
mod signals;

use std::net::TcpListener;
use std::time::Duration;

fn main() {
    if std::env::var("CRASH_ON_START").as_deref() == Ok("1") {
        eprintln!("demo: CRASH_ON_START=1, exiting with status 1");
        std::process::exit(1);
    }
    signals::exit_on_sigterm();
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
