//! What follows a committed write, in one place.
//!
//! A write that changes what the SDKs are served (flag definitions and states, segments,
//! config, the kill switch, a promotion) has to refresh this instance's snapshot cache, which
//! also announces the change on the Redis bus to the other instances. Instead of a reload call
//! each handler must remember, those store writes return a [`Committed`] value naming what
//! they changed; the value they wrote is reachable only through `AppState::publish` (in
//! `crate::state`), the one post-commit step, and the type is `#[must_use]`, so dropping it
//! unpublished is a warning (and `-D warnings` makes it an error). This module depends on no
//! other of the crate, so the store can build its values without a module cycle.

/// What a committed write changed, as far as the served snapshots are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Nothing that is served (a dry run, a promotion with nothing to copy).
    Nothing,
    /// Something every environment of the project serves or inherits: a definition, a
    /// segment, a config value (child environments inherit it).
    Project(String),
    /// One environment's flag states or kill switch.
    Environment {
        project: String,
        environment: String,
    },
}

impl Changed {
    pub(crate) fn project(project: &str) -> Self {
        Self::Project(project.to_owned())
    }

    pub(crate) fn environment(project: &str, environment: &str) -> Self {
        Self::Environment {
            project: project.to_owned(),
            environment: environment.to_owned(),
        }
    }
}

/// The result of a committed write and what it changed. Only `AppState::publish` (in
/// `crate::state`) hands the result out after running the follow-up.
#[derive(Debug)]
#[must_use = "a committed write needs its follow-up: pass it to `AppState::publish`"]
pub struct Committed<T> {
    value: T,
    changed: Changed,
}

impl<T> Committed<T> {
    pub(crate) fn new(value: T, changed: Changed) -> Self {
        Self { value, changed }
    }

    /// For the post-commit step (`AppState::publish`) alone: the result and what to refresh.
    pub(crate) fn into_parts(self) -> (T, Changed) {
        (self.value, self.changed)
    }

    /// The result without the follow-up, on purpose: for callers that stand for another
    /// instance (which learns of the change from the revision poller) or refresh by other means.
    pub fn without_follow_up(self) -> T {
        self.value
    }
}
