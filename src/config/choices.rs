//! The config's closed choices: keys whose value is one of a few kebab-case words
//! (`builder.context_source`, `delivery`), as enums that refuse any other word.

use serde::{Deserialize, Serialize};

/// `builder.context_source`: where the build context's files come from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ContextSource {
    /// The committed tree of the commit being deployed (uncommitted changes left out).
    #[default]
    Commit,
    /// The files on disk, uncommitted changes included (version `<sha>-dirty`).
    WorkingTree,
}

/// `delivery`: how the image reaches hosts when there is no registry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Only the layers a host lacks, pulled by its engine from dhow over the SSH connection.
    #[default]
    Layers,
    /// The whole image, `docker save` streamed into the host's `docker load`.
    Stream,
}
