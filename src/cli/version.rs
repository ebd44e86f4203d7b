//! `dhow version`: print dhow's own version.

use crate::output::Output;

pub fn run(out: &Output) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    out.data(
        "version",
        &serde_json::json!({ "version": version }),
        || println!("dhow {version}"),
    );
    Ok(())
}
