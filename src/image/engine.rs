//! Reading an engine's progress stream (build, push, pull, load) with an idle timeout, so a
//! stalled transfer fails with advice instead of hanging. The engine helpers that used to
//! live here (connecting to the local engine, an error's message, "not found") are in
//! src/docker/.

use crate::error::{fail, Kind};
use anyhow::Result;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// The next item of a progress stream, or an error when nothing arrives for `idle`.
pub async fn next_within<S>(stream: &mut S, idle: Duration, what: &str) -> Result<Option<S::Item>>
where
    S: Stream + Unpin,
{
    tokio::time::timeout(idle, stream.next())
        .await
        .map_err(|_| {
            fail(
                Kind::Remote,
                format!(
                "{what}: no progress for {} minutes; giving up (check the engine and the network)",
                idle.as_secs() / 60
            ),
            )
        })
}
