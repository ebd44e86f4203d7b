//! How Docker Engine calls fail, said once: every call runs under a timeout, an error keeps
//! the engine's own message (not bollard's wrapping), and "no such container / image /
//! network" is recognised in exactly one place, by the HTTP status the engine answered
//! (404), never by looking for words or digits in a message (a version SHA may contain "404").

use crate::error::{fail, Kind};
use std::future::Future;
use std::time::Duration;

/// How long one Docker API call may take (image transfers have their own limits).
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

/// True when the engine answered "not found" (HTTP 404): no such container, image, network.
pub fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine's own message of an error, without bollard's wrapping.
pub fn message(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// One API call under [`API_TIMEOUT`]; a failure says `what` and the engine's message.
pub async fn timed<T>(
    what: &str,
    fut: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> anyhow::Result<T> {
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(fail(Kind::Remote, format!("{what}: {}", message(&e)))),
        Err(_) => Err(timed_out(what)),
    };
    let ms = started.elapsed().as_millis() as u64;
    tracing::debug!(
        call = what,
        ok = result.is_ok(),
        ms,
        "docker: {what} ({ms} ms)"
    );
    result
}

/// Like [`timed`], but "not found" is an answer, not an error: `Ok(None)`.
pub async fn timed_or_missing<T>(
    what: &str,
    fut: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> anyhow::Result<Option<T>> {
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) if is_not_found(&e) => Ok(None),
        Ok(Err(e)) => Err(fail(Kind::Remote, format!("{what}: {}", message(&e)))),
        Err(_) => Err(timed_out(what)),
    }
}

fn timed_out(what: &str) -> anyhow::Error {
    fail(
        Kind::Remote,
        format!(
            "{what}: Docker did not answer within {}s",
            API_TIMEOUT.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(status_code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn not_found_is_the_status_not_the_words() {
        assert!(is_not_found(&server_error(404, "No such container: x")));
        // A version SHA with 404 in it, or "not found" in a conflict, is not "missing".
        assert!(!is_not_found(&server_error(
            409,
            "container demo-web-4041abc is not found in a running state"
        )));
        assert!(!is_not_found(&server_error(500, "demo-web-a404b: failed")));
    }

    #[tokio::test]
    async fn missing_is_none_other_errors_stay_errors() {
        let missing = timed_or_missing("inspect", async {
            Err::<(), _>(server_error(404, "No such container: x"))
        })
        .await
        .unwrap();
        assert!(missing.is_none());
        let err = timed_or_missing("inspect x", async {
            Err::<(), _>(server_error(500, "engine on fire"))
        })
        .await
        .unwrap_err();
        assert_eq!(format!("{err}"), "inspect x: engine on fire");
    }
}
