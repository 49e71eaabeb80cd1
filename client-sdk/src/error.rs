//! The crate's errors, one type per boundary.
//!
//! Policy: evaluation never fails (a getter answers the caller's default and says why in its
//! details), so errors exist only where the caller can act on them:
//! - [`BuildError`]: the configuration given to [`crate::ClientBuilder`] cannot work. Explicit
//!   inputs are checked at once (a bootstrap file that does not parse stops `build()`), while a
//!   persisted snapshot is only a cache and a broken one is skipped with a warning.
//! - [`RefreshError`]: why the last refresh failed. Never returned from a call: the client keeps
//!   serving its last good snapshot, logs the error and exposes it in [`crate::Status`].
//! - [`crate::NotReady`]: `wait_ready` gave up.
//! - [`ConfigError`]: a config entry exists but does not deserialize into the requested type.
//!
//! The SDK token never appears in any of them.

use std::path::PathBuf;

/// Why [`crate::ClientBuilder::build`] refused the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The token holds characters that cannot go in an HTTP header (e.g. a trailing newline
    /// from a file); it is not repeated here.
    #[error("the SDK token is not a valid HTTP header value (stray whitespace or newline?)")]
    InvalidToken,
    #[error(
        "no tokio runtime: build the client from within a tokio runtime, or call `offline()` \
         on the builder for a client without background refresh"
    )]
    NoRuntime,
    #[error("bootstrap file {path}: {source}")]
    Bootstrap {
        path: PathBuf,
        #[source]
        source: SnapshotFileError,
    },
    /// The bootstrap snapshot is for another project or environment than the builder names.
    #[error("the bootstrap snapshot is for {found}, but the client is configured for {expected}")]
    WrongEnvironment { expected: String, found: String },
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// A snapshot file (bootstrap or persisted) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a snapshot: {0}")]
    Parse(#[from] serde_json::Error),
}

/// Why the last attempt to get the snapshot from the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// Connection refused, DNS failure, timeout, connection reset…
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// `401` or `403`: the token is missing, expired, revoked, or lacks `flags:read` for this
    /// environment.
    #[error("the server refused the SDK token ({status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    /// Any other unexpected status, with the problem's `detail` when the server sent one.
    #[error("the server answered {status}: {detail}")]
    Status { status: u16, detail: String },
    /// The body is not a snapshot this client understands (e.g. a newer `format_version`).
    #[error("the server's snapshot is unusable: {0}")]
    InvalidSnapshot(String),
}

impl RefreshError {
    /// Whether retrying cannot help until someone changes something (the token, the project or
    /// environment named): `wait_ready` stops waiting on such an error, and the client polls
    /// at its slowest rate meanwhile.
    pub fn needs_attention(&self) -> bool {
        match self {
            RefreshError::Unauthorized { .. } => true,
            RefreshError::Status { status, .. } => matches!(status, 400 | 404),
            RefreshError::Unreachable(_) | RefreshError::InvalidSnapshot(_) => false,
        }
    }
}

/// A config entry that does not deserialize into the type asked for.
#[derive(Debug, thiserror::Error)]
#[error("config entry {key:?}: {source}")]
pub struct ConfigError {
    pub key: String,
    #[source]
    pub source: serde_json::Error,
}

/// An error and its causes on one line: `reqwest`'s own message is often just "error sending
/// request", the useful part ("connection refused") is further down the chain.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
