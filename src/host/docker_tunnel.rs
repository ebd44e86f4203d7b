//! bollard over SSH: every Docker API request opens a `direct-streamlocal` channel to the
//! host's /var/run/docker.sock on the one SSH connection of that host (bollard's custom
//! transport), so no local socket or port is opened. The API version is negotiated with the
//! engine (hosts run anything from API 1.41 up); none is hard-coded.

use crate::error::{fail, Kind};
use crate::host::ssh::Session;
use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};

/// The Docker socket on every host.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Seconds bollard waits for one API request by default.
const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// A bollard client for the host's engine, version-negotiated. It holds a clone of the
/// session, so the connection stays open as long as the client (or a clone) lives.
pub async fn connect(session: &Session) -> anyhow::Result<Docker> {
    connect_with_timeout(session, DEFAULT_TIMEOUT_SECS).await
}

/// Like [`connect`], with a per-request timeout in seconds (long pulls, builds).
pub async fn connect_with_timeout(session: &Session, timeout_secs: u64) -> anyhow::Result<Docker> {
    let transport_session = session.clone();
    let transport = move |req: BollardRequest| {
        let session = transport_session.clone();
        async move {
            session.http_unix(DOCKER_SOCKET, req).await.map_err(|e| {
                bollard::errors::Error::IOError {
                    err: std::io::Error::other(format!("{e:#}")),
                }
            })
        }
    };
    let docker = Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        timeout_secs,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| {
        fail(
            Kind::Internal,
            format!("cannot set up the Docker client: {e}"),
        )
    })?;
    match docker.negotiate_version().await {
        Ok(docker) => Ok(docker),
        Err(e) => Err(diagnose(session, &e.to_string()).await),
    }
}

/// Explain why the Docker API is unreachable: no socket (Docker not installed), no
/// permission (user not in the docker group), or the engine not answering.
async fn diagnose(session: &Session, cause: &str) -> anyhow::Error {
    let host = session.host();
    let probe = format!(
        "if [ ! -S {DOCKER_SOCKET} ]; then echo missing; \
         elif [ ! -r {DOCKER_SOCKET} ] || [ ! -w {DOCKER_SOCKET} ]; then echo denied; \
         else echo present; fi; id -un"
    );
    let (state, user) = match crate::host::remote::Exec::exec_step(
        session,
        "probe the Docker socket",
        &probe,
        None,
    )
    .await
    {
        Ok(out) => {
            let mut lines = out.stdout.lines();
            (
                lines.next().unwrap_or_default().to_string(),
                lines.next().unwrap_or("USER").to_string(),
            )
        }
        Err(_) => (String::new(), "USER".to_string()),
    };
    let message = match state.as_str() {
        "missing" => format!(
            "{host}: Docker is not installed ({DOCKER_SOCKET} does not exist); \
             `dhow setup` installs it"
        ),
        "denied" => format!(
            "{host}: permission denied on {DOCKER_SOCKET} for user {user}: add the user to the \
             docker group (`usermod -aG docker {user}` on the host) and connect again"
        ),
        _ => format!(
            "{host}: the Docker engine does not answer on {DOCKER_SOCKET}: {cause}. \
             Is dockerd running on the host?"
        ),
    };
    fail(Kind::Remote, message)
}
