//! A connected host as deploy steps use it: its shell (for files, lock, audit) and its Docker
//! engine, both carried by the host's one SSH connection.

use crate::host::remote::Exec;
use std::sync::Arc;

/// A host with its shell and engine.
#[derive(Clone)]
pub struct HostConn {
    /// The host as the user wrote it (`1.2.3.4`, `deploy@web1:2222`).
    pub name: String,
    pub shell: Arc<dyn Exec>,
    pub docker: bollard::Docker,
}

impl std::fmt::Debug for HostConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConn")
            .field("name", &self.name)
            .finish()
    }
}
