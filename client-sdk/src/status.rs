//! What the client is serving and how fresh it is; what `wait_ready` waits for.

use std::fmt;

use crate::error::RefreshError;

/// Where the snapshot being served came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The builder's bootstrap snapshot or file.
    Bootstrap,
    /// The snapshot persisted by an earlier run.
    Persisted,
    /// The server.
    Server,
    /// [`crate::Client::apply_snapshot`].
    Application,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Bootstrap => "bootstrap",
            Source::Persisted => "persisted",
            Source::Server => "server",
            Source::Application => "application",
        })
    }
}

/// A point-in-time view of the client's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Revision of the snapshot being served; `None` while there is none (every getter answers
    /// the caller's default with `PROVIDER_NOT_READY`).
    pub revision: Option<u64>,
    /// Where that snapshot came from.
    pub source: Option<Source>,
    /// The server has answered at least once since the client was built: the client is
    /// *ready*. It stays ready when the server goes away later (the last good snapshot is
    /// kept); `last_error` says so.
    pub synced: bool,
    /// Why the most recent refresh failed; `None` once one succeeds again.
    pub last_error: Option<RefreshError>,
}

impl Status {
    /// Whether evaluations use a snapshot (rather than answering the caller's defaults).
    pub fn has_snapshot(&self) -> bool {
        self.revision.is_some()
    }
}

/// `wait_ready` gave up: the server has not answered in time, or answered with an error that
/// retrying will not fix. The client keeps running and keeps trying; `status` says what it
/// serves meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotReady {
    pub status: Status,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status.last_error {
            Some(error) => write!(f, "the Switchboard server has not answered: {error}")?,
            None => f.write_str("the Switchboard server has not answered yet")?,
        }
        match (self.status.revision, self.status.source) {
            (Some(revision), Some(source)) => {
                write!(f, "; serving the {source} snapshot at revision {revision}")
            }
            _ => f.write_str("; serving the callers' defaults"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_says_what_is_served_meanwhile() {
        let bootstrapped = NotReady {
            status: Status {
                revision: Some(7),
                source: Some(Source::Bootstrap),
                synced: false,
                last_error: Some(RefreshError::Unreachable("connection refused".into())),
            },
        };
        assert_eq!(
            bootstrapped.to_string(),
            "the Switchboard server has not answered: cannot reach the server: connection \
             refused; serving the bootstrap snapshot at revision 7"
        );
        let empty = NotReady {
            status: Status::default(),
        };
        assert!(empty.to_string().ends_with("serving the callers' defaults"));
    }
}
