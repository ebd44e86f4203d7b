//! `dhow version`: print dhow's own version.

use crate::output::Output;

pub fn run(out: &Output) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    if out.json {
        out.event("version", serde_json::json!({ "version": version }));
    } else {
        println!("dhow {version}");
    }
    Ok(())
}
