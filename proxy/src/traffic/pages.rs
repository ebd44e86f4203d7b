//! A service's own error pages (`proxy.error_pages_path` of the config, sent with its deploy):
//! HTML served instead of the proxy's plain-text answers for 502, 503 and 504, and instead of
//! the built-in maintenance page of a stopped service (the `maintenance` page, else the 503
//! one), where `{{ .Message }}` (Kamal's spelling) becomes the stop's message, HTML-escaped.

use bytes::Bytes;
use dhow_proxy_api::traffic::{ERROR_PAGE_NAMES, MAX_ERROR_PAGE, MESSAGE_PLACEHOLDER};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The pages, ready to send.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    by_status: [Option<Bytes>; 3],
    maintenance: Option<Arc<str>>,
}

/// The message the maintenance page shows when `stop` gave none.
pub const DEFAULT_MESSAGE: &str = "This service is down for maintenance.";

impl ErrorPages {
    /// The pages of a deploy request: only known names, none over the size limit.
    pub fn new(pages: &BTreeMap<String, String>) -> Result<ErrorPages, String> {
        let mut out = ErrorPages::default();
        for (name, html) in pages {
            if html.len() > MAX_ERROR_PAGE {
                return Err(format!(
                    "error page {name} is {} bytes, over the limit of {MAX_ERROR_PAGE}",
                    html.len()
                ));
            }
            let page = Bytes::copy_from_slice(html.as_bytes());
            match name.as_str() {
                "502" => out.by_status[0] = Some(page),
                "503" => out.by_status[1] = Some(page),
                "504" => out.by_status[2] = Some(page),
                "maintenance" => out.maintenance = Some(Arc::from(html.as_str())),
                _ => {
                    return Err(format!(
                        "error page {name}: expected one of {}",
                        ERROR_PAGE_NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(out)
    }

    /// The page for an error the proxy answers with `status`, if the service has one.
    #[inline]
    pub fn for_status(&self, status: u16) -> Option<&Bytes> {
        let i = match status {
            502 => 0,
            503 => 1,
            504 => 2,
            _ => return None,
        };
        self.by_status[i].as_ref()
    }

    /// Any page at all.
    pub fn any(&self) -> bool {
        self.maintenance.is_some() || self.by_status.iter().any(Option::is_some)
    }

    /// The maintenance page with `message` in it, if the service has one (or a 503 page).
    pub fn maintenance(&self, message: Option<&str>) -> Option<String> {
        let page: &str = match (&self.maintenance, &self.by_status[1]) {
            (Some(m), _) => m,
            (None, Some(p)) => std::str::from_utf8(p).ok()?,
            (None, None) => return None,
        };
        let msg = html_escape(message.unwrap_or(DEFAULT_MESSAGE));
        Some(page.replace(MESSAGE_PLACEHOLDER, &msg))
    }
}

/// Text made safe to put in HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(list: &[(&str, &str)]) -> Result<ErrorPages, String> {
        ErrorPages::new(
            &list
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pages_by_status_and_the_maintenance_page_with_its_message() {
        let p = pages(&[("502", "<p>bad</p>"), ("503", "<p>{{ .Message }}</p>")]).unwrap();
        assert_eq!(p.for_status(502).map(|s| &s[..]), Some(&b"<p>bad</p>"[..]));
        assert_eq!(p.for_status(504), None);
        assert_eq!(p.for_status(500), None);
        assert_eq!(
            p.maintenance(Some("back <soon>")).as_deref(),
            Some("<p>back &lt;soon&gt;</p>")
        );
        let m = pages(&[("maintenance", "<b>{{ .Message }}</b>"), ("503", "x")]).unwrap();
        assert_eq!(
            m.maintenance(None).as_deref(),
            Some("<b>This service is down for maintenance.</b>")
        );
        assert!(!pages(&[]).unwrap().any());
        assert_eq!(pages(&[]).unwrap().maintenance(None), None);
    }

    #[test]
    fn unknown_names_and_huge_pages_are_refused() {
        assert!(pages(&[("404", "x")])
            .unwrap_err()
            .contains("expected one of"));
        let big = "x".repeat(MAX_ERROR_PAGE + 1);
        assert!(pages(&[("502", &big)])
            .unwrap_err()
            .contains("over the limit"));
    }
}
