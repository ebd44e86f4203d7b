//! Error kinds and their exit codes.
//!
//! Every failure is an `anyhow::Error`; the ones a script may want to tell apart carry a
//! [`Failure`] with a [`Kind`], which fixes the process exit code. Messages say what failed,
//! where, and what to do next; they never contain secret values.

use std::fmt;

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Something unexpected inside dhow.
    Internal,
    /// Wrong command-line usage (unknown host, role, version, bad flag value).
    Usage,
    /// The config (or secrets) failed to load or validate. Nothing touched any host.
    Config,
    /// A host could not be reached, refused authentication or presented a bad host key.
    Connection,
    /// A command or API call on a host failed.
    Remote,
    /// The deploy lock is held by someone else.
    Locked,
    /// A deploy, rollback or health check failed; the old version keeps serving.
    Deploy,
    /// A hook script failed.
    Hook,
}

impl Kind {
    /// The process exit code for this kind (clap itself uses 2 for parse errors).
    pub fn code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::Config => 3,
            Kind::Connection => 4,
            Kind::Remote => 5,
            Kind::Locked => 6,
            Kind::Deploy => 7,
            Kind::Hook => 8,
        }
    }
}

/// An error with a kind. Build one with [`fail`] and return it through `anyhow`.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Make an `anyhow::Error` of the given kind.
pub fn fail(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        kind,
        message: message.into(),
    })
}

/// A command that runs the user's own command on hosts and ends with that command's exit
/// status (`dhow cron run`): the status, and what to say about it.
#[derive(Debug)]
pub struct ExitWith {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for ExitWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitWith {}

/// An error whose exit code is `code` itself (1 to 255; 0 becomes 1).
pub fn exit_with(code: i64, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ExitWith {
        code: u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1),
        message: message.into(),
    })
}

/// The process exit code for an error: an [`ExitWith`]'s own, else its kind's.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<ExitWith>().map(|x| x.code))
        .unwrap_or_else(|| kind_of(err).code())
}

/// The kind of an error: the first [`Failure`] in its chain, else `Internal`.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.kind))
        .unwrap_or(Kind::Internal)
}
