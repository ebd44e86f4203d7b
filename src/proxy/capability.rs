//! What a deploy asks of the proxy that an older proxy would accept and silently ignore, and
//! whether the proxy's health answer says it can do it. Decided *before* the switch, so a
//! proxy that is too old leaves the old version serving.

use crate::proxy::control::DeployRequest;
use dhow_proxy_api::HealthAnswer;

/// The part of `req` that `health`'s proxy would ignore, named for the user; `None` when it
/// can do everything asked. `service_limits` came after automatic certificates, so a proxy
/// that reports it also understands `acme`; `traffic` came after both.
pub fn unsupported(req: &DeployRequest, health: &HealthAnswer) -> Option<&'static str> {
    if req.bake.is_some() && !health.bake {
        return Some("a bake window (deploy.bake: it would drain the old version at once)");
    }
    if req.targets.len() > 1 && !health.replicas {
        return Some("replicas (it would route to the first container only)");
    }
    if !req.traffic.is_empty() && !health.traffic {
        return Some(
            "proxy.path_prefixes, rate_limit, error_pages_path and canonical_host (it would \
             ignore them)",
        );
    }
    if health.service_limits {
        return None;
    }
    if req.response_timeout_ms.is_some() || req.buffering.is_some() {
        return Some("proxy.response_timeout and proxy.buffering (it would ignore them)");
    }
    if req.acme {
        return Some("automatic certificates (ssl = true)");
    }
    None
}

/// Whether `req` needs the health answer at all (a plain deploy works with any proxy).
pub fn needs_check(req: &DeployRequest) -> bool {
    req.acme
        || req.bake.is_some()
        || req.targets.len() > 1
        || req.response_timeout_ms.is_some()
        || req.buffering.is_some()
        || !req.traffic.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> DeployRequest {
        serde_json::from_str(r#"{"target":"demo-web-abc:3000","hosts":["demo.test"]}"#)
            .expect("a minimal deploy request")
    }

    #[test]
    fn an_old_proxy_is_refused_for_acme_before_the_switch() {
        let old: HealthAnswer = serde_json::from_str(r#"{"ok":true}"#).unwrap();
        let now: HealthAnswer =
            serde_json::from_str(r#"{"ok":true,"service_limits":true}"#).unwrap();
        let mut acme = req();
        acme.acme = true;
        assert!(needs_check(&acme));
        assert_eq!(
            unsupported(&acme, &old),
            Some("automatic certificates (ssl = true)")
        );
        assert_eq!(unsupported(&acme, &now), None);
        let mut limits = req();
        limits.response_timeout_ms = Some(5000);
        assert!(unsupported(&limits, &old)
            .unwrap()
            .contains("response_timeout"));
        assert_eq!(unsupported(&limits, &now), None);
        assert!(!needs_check(&req()));
        assert_eq!(unsupported(&req(), &old), None);
        // Traffic settings came later than service limits: a proxy must say it has them.
        let mut limited = req();
        limited.traffic.canonical_host = Some("demo.test".into());
        assert!(needs_check(&limited));
        assert!(unsupported(&limited, &now).unwrap().contains("rate_limit"));
        let newest: HealthAnswer =
            serde_json::from_str(r#"{"ok":true,"service_limits":true,"traffic":true}"#).unwrap();
        assert_eq!(unsupported(&limited, &newest), None);
        // Several targets: only a proxy that says it balances gets them.
        let mut replicas = req();
        replicas.targets = vec!["a:3000".into(), "b:3000".into()];
        assert!(needs_check(&replicas));
        assert!(unsupported(&replicas, &newest)
            .unwrap()
            .contains("replicas"));
        let balancing: HealthAnswer = serde_json::from_str(
            r#"{"ok":true,"service_limits":true,"traffic":true,"replicas":true}"#,
        )
        .unwrap();
        assert_eq!(unsupported(&replicas, &balancing), None);
    }

    /// A host whose proxy socket is a fake old proxy: its health answer has no
    /// `service_limits`, and every request line it gets is recorded.
    struct OldProxy {
        socket: std::path::PathBuf,
    }

    impl crate::host::remote::Exec for OldProxy {
        fn label(&self) -> String {
            "fake".into()
        }
        fn run<'a>(
            &'a self,
            _cmd: &'a str,
            _stdin: Option<Vec<u8>>,
        ) -> futures::future::BoxFuture<'a, anyhow::Result<crate::host::remote::ExecOutput>>
        {
            Box::pin(async { anyhow::bail!("no shell here") })
        }
        fn open_unix<'a>(
            &'a self,
            _path: &'a str,
        ) -> futures::future::BoxFuture<'a, anyhow::Result<Box<dyn crate::host::remote::UnixStream>>>
        {
            Box::pin(async move {
                let s = tokio::net::UnixStream::connect(&self.socket).await?;
                Ok(Box::new(s) as Box<dyn crate::host::remote::UnixStream>)
            })
        }
        fn forward_remote_port<'a>(
            &'a self,
            _port: u16,
            _local: &'a str,
        ) -> futures::future::BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_deploy_with_acme_never_reaches_an_old_proxy() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                log.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or_default().to_string());
                let body = r#"{"ok":true}"#;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let host = crate::host::conn::HostConn {
            name: "127.0.0.11".into(),
            shell: std::sync::Arc::new(OldProxy { socket }),
            docker: bollard::Docker::connect_with_http(
                "http://127.0.0.1:1",
                5,
                bollard::API_DEFAULT_VERSION,
            )
            .unwrap(),
        };
        let mut r = req();
        r.acme = true;
        let err = crate::proxy::on_host::deploy(&host, "demo-web", &r)
            .await
            .expect_err("an old proxy must be refused");
        assert!(
            err.to_string()
                .contains("too old for automatic certificates"),
            "{err}"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            ["GET /v1/health HTTP/1.1"],
            "the deploy must not be sent"
        );
    }
}
