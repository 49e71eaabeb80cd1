//! Reach: the environments a request touches besides the one in its URL.
//!
//! The [`Authorized`](crate::auth::Authorized) extractor checks the `{project}` and `{env}` of
//! the matched route. A request can also *name* another environment (a `parent`, a `from`) or
//! *follow* one (a resolved value inherited through the parent chain shows the ancestor's
//! value, and says so in `source`). Those go through this module, so that a token limited to
//! `development` can neither read `production`'s values by inheriting them nor aim a write at
//! it: every resolved read checks the whole chain, every named environment is checked before
//! the store is asked to follow it.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::snapshots::EnvironmentSnapshot;
use crate::store::{Store, environments};

/// The token must reach the environment `name` names (a parent, a `from`).
pub(super) fn named(principal: &Principal, name: &str) -> Result<(), ApiError> {
    if principal.environments.allows(name) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this token may not access environment '{name}'"
        )))
    }
}

/// The token must reach every environment whose config `entry` serves (see [`lineage`]).
pub(super) fn served(principal: &Principal, entry: &EnvironmentSnapshot) -> Result<(), ApiError> {
    match entry
        .lineage
        .iter()
        .all(|name| principal.environments.allows(name))
    {
        true => Ok(()),
        false => Err(inherits_unreachable(&entry.environment)),
    }
}

fn inherits_unreachable(env: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "environment '{env}' inherits from an environment this token may not access"
    ))
}

/// The token must reach `env` and every environment it inherits from: what a resolved read
/// (config, an export, a diff, a promotion's source) may show.
pub(super) async fn lineage(
    store: &Store,
    principal: &Principal,
    project: &str,
    env: &str,
) -> Result<(), ApiError> {
    if matches!(principal.environments, crate::domain::Access::All) {
        // Reaches every environment, so every chain: no need to load it.
        return Ok(());
    }
    let chain = environments::lineage(store, project, env).await?;
    for ancestor in &chain {
        if !principal.environments.allows(ancestor) {
            return Err(inherits_unreachable(env));
        }
    }
    Ok(())
}
