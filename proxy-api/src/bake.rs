//! The wire of a deploy's bake window: what `GET /v1/services/NAME/bake` answers while it
//! runs and after (what a deploy asks, `BakeSpec`, is part of the request: `request.rs`).

use crate::canary::VersionStats;
use serde::{Deserialize, Serialize};

/// `GET /v1/services/NAME/bake`: the last bake of the service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BakeStatus {
    /// The window's end is this far off (0 once decided).
    pub left_ms: u64,
    /// The new targets' requests since the switch.
    pub new: VersionStats,
    /// The old targets' requests while they served.
    pub old: VersionStats,
    /// Why it rolled back (or could not).
    pub reason: Option<String>,
    /// `none` (no bake), `baking`, `passed` (the old targets are drained), `rolled_back`
    /// (the old targets serve again, the new ones are drained), `superseded` (another deploy
    /// came first), `failed` (past a limit, but the old targets did not answer their health
    /// check: the new ones kept serving).
    pub state: String,
}
