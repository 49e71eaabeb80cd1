//! The map the cache swaps: its shape, the two edits writers make to a copy of it, and the
//! changes streaming clients are told about when a copy replaces the current one.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Change, EnvironmentSnapshot};

/// Project name → environment name → entry. Nested so that a lookup by two `&str`s allocates
/// nothing.
pub(super) type Map = HashMap<String, HashMap<String, Arc<EnvironmentSnapshot>>>;

/// Inserts `fresh` unless the map already holds a newer revision of the same environment.
pub(super) fn insert(map: &mut Map, fresh: Arc<EnvironmentSnapshot>) {
    let envs = map.entry(fresh.project.clone()).or_default();
    match envs.get(&fresh.environment) {
        Some(old)
            if old.environment_id == fresh.environment_id && old.revision > fresh.revision => {}
        _ => {
            envs.insert(fresh.environment.clone(), fresh);
        }
    }
}

pub(super) fn remove(map: &mut Map, project: &str, environment: &str) {
    if let Some(envs) = map.get_mut(project) {
        envs.remove(environment);
        if envs.is_empty() {
            map.remove(project);
        }
    }
}

/// Every environment whose revision (or identity) differs between `before` and `next`, and
/// every one `next` no longer holds.
pub(super) fn changes(before: &Map, next: &Map) -> Vec<Change> {
    let mut changed = Vec::new();
    for (project, envs) in next {
        for (environment, entry) in envs {
            let old = before.get(project).and_then(|e| e.get(environment));
            if old.is_none_or(|old| {
                old.revision != entry.revision || old.environment_id != entry.environment_id
            }) {
                changed.push(Change {
                    project: project.clone(),
                    environment: environment.clone(),
                    revision: entry.revision,
                    gone: false,
                });
            }
        }
    }
    for (project, envs) in before {
        for (environment, entry) in envs {
            if next.get(project).and_then(|e| e.get(environment)).is_none() {
                changed.push(Change {
                    project: project.clone(),
                    environment: environment.clone(),
                    revision: entry.revision,
                    gone: true,
                });
            }
        }
    }
    changed
}
