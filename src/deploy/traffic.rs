//! `[proxy]`'s traffic keys as the proxy takes them (`Traffic` of the wire): several path
//! prefixes, the rate limit, the canonical host, and the error pages read from
//! `error_pages_path` (only the pages dhow-proxy serves; any other file there is refused
//! rather than silently left out).

use crate::config::schema::ProxyConfig;
use crate::config::select::expand;
use crate::error::{fail, Kind};
use crate::proxy::control::{RateLimit, Traffic};
use dhow_proxy_api::traffic::{ERROR_PAGE_NAMES, MAX_ERROR_PAGE};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The traffic settings of `[proxy]` (validated already), the error pages read.
pub fn traffic(p: &ProxyConfig) -> anyhow::Result<Traffic> {
    Ok(Traffic {
        path_prefixes: p.path_prefixes.clone().unwrap_or_default(),
        rate_limit: p.rate_limit.as_ref().map(|r| RateLimit {
            requests: r.requests,
            per_ms: r.per.map_or(Duration::from_secs(1), |d| d.0).as_millis() as u64,
            burst: r.burst.unwrap_or(0),
            by: r.by.clone().unwrap_or_else(|| "ip".into()),
        }),
        error_pages: match &p.error_pages_path {
            Some(dir) => error_pages(dir, &expand(dir))?,
            None => BTreeMap::new(),
        },
        canonical_host: p.canonical_host.clone(),
    })
}

/// The pages in `dir` (as written in the config: `shown`): `502.html`, `503.html`,
/// `504.html`, `maintenance.html`, at least one of them, each UTF-8 and within the proxy's
/// size limit.
fn error_pages(shown: &str, dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let bad = |why: String| fail(Kind::Config, format!("proxy.error_pages_path: {why}"));
    let entries = std::fs::read_dir(dir).map_err(|e| bad(format!("cannot read {shown}: {e}")))?;
    let mut pages = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("cannot read {shown}: {e}")))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file
            .strip_suffix(".html")
            .filter(|n| ERROR_PAGE_NAMES.contains(n))
        else {
            if entry.path().is_file() {
                return Err(bad(format!(
                    "{shown}/{file}: dhow-proxy serves only {} (remove or rename it)",
                    ERROR_PAGE_NAMES.map(|n| format!("{n}.html")).join(", ")
                )));
            }
            continue;
        };
        let html = std::fs::read_to_string(entry.path())
            .map_err(|e| bad(format!("cannot read {shown}/{file}: {e}")))?;
        if html.len() > MAX_ERROR_PAGE {
            return Err(bad(format!(
                "{shown}/{file} is {} bytes; a page may be at most {MAX_ERROR_PAGE}",
                html.len()
            )));
        }
        pages.insert(name.to_string(), html);
    }
    if pages.is_empty() {
        return Err(bad(format!(
            "{shown} has none of {}",
            ERROR_PAGE_NAMES.map(|n| format!("{n}.html")).join(", ")
        )));
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_are_read_and_other_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shown = "public/errors";
        let err = error_pages(shown, dir.path()).unwrap_err().to_string();
        assert!(err.contains("has none of 502.html"), "{err}");
        std::fs::write(dir.path().join("502.html"), "<p>down</p>").unwrap();
        std::fs::write(dir.path().join("maintenance.html"), "{{ .Message }}").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        let pages = error_pages(shown, dir.path()).unwrap();
        assert_eq!(pages.keys().collect::<Vec<_>>(), ["502", "maintenance"]);
        std::fs::write(dir.path().join("500.html"), "x").unwrap();
        let err = error_pages(shown, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("public/errors/500.html: dhow-proxy serves only 502.html"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("500.html")).unwrap();
        std::fs::write(dir.path().join("503.html"), "x".repeat(MAX_ERROR_PAGE + 1)).unwrap();
        let err = error_pages(shown, dir.path()).unwrap_err().to_string();
        assert!(err.contains("at most"), "{err}");
        let missing = error_pages("nope", Path::new("/nonexistent/x")).unwrap_err();
        assert!(missing.to_string().contains("cannot read nope"));
    }

    #[test]
    fn the_rate_limit_takes_its_defaults() {
        let p: ProxyConfig = toml::from_str(
            "path_prefixes = [\"/a\", \"/b\"]\ncanonical_host = \"a.test\"\n\
             [rate_limit]\nrequests = 100\n",
        )
        .unwrap();
        let t = traffic(&p).unwrap();
        assert_eq!(t.path_prefixes, ["/a", "/b"]);
        assert_eq!(
            t.rate_limit,
            Some(RateLimit {
                requests: 100,
                per_ms: 1000,
                burst: 0,
                by: "ip".into()
            })
        );
        assert_eq!(t.canonical_host.as_deref(), Some("a.test"));
        assert!(traffic(&ProxyConfig::default()).unwrap().is_empty());
    }
}
