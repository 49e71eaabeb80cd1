//! Diff between two environments' resolved configuration, and promotion of one into the other.
//!
//! A dry run and a real promotion compute their plan with the same function; the real one then
//! applies the plan in the same transaction, so what a dry run shows is exactly what would be
//! applied at that moment, and a promotion is all or nothing, audited as one event.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::audit::{self, Actor, Change};
use super::config::{KeyChange, ResolvedEntry, bump_with_descendants, resolve, write_key};
use super::lookup::environment_id;
use super::{Store, StoreError, StoreResult, retrying};
use crate::changes::{Changed, Committed};

/// Keys that differ between `from` and `to`, comparing resolved values.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Diff {
    pub from: String,
    pub to: String,
    /// In `from`, not in `to`.
    pub added: Vec<DiffEntry>,
    /// In `to`, not in `from`.
    pub removed: Vec<DiffEntry>,
    /// In both, with different values.
    pub changed: Vec<ChangedEntry>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DiffEntry {
    pub key: String,
    pub value: Value,
    pub source: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChangedEntry {
    pub key: String,
    pub from: Value,
    pub to: Value,
}

fn diff_of(
    from: &str,
    to: &str,
    a: &BTreeMap<String, ResolvedEntry>,
    b: &BTreeMap<String, ResolvedEntry>,
) -> Diff {
    let entry = |e: &ResolvedEntry| DiffEntry {
        key: e.key.clone(),
        value: e.value.clone(),
        source: e.source.clone(),
    };
    Diff {
        from: from.to_owned(),
        to: to.to_owned(),
        added: a
            .values()
            .filter(|e| !b.contains_key(&e.key))
            .map(entry)
            .collect(),
        removed: b
            .values()
            .filter(|e| !a.contains_key(&e.key))
            .map(entry)
            .collect(),
        changed: a
            .values()
            .filter_map(|e| {
                let other = b.get(&e.key)?;
                (other.value != e.value).then(|| ChangedEntry {
                    key: e.key.clone(),
                    from: e.value.clone(),
                    to: other.value.clone(),
                })
            })
            .collect(),
    }
}

#[tracing::instrument(skip_all, fields(project = %project, from = %from, to = %to))]
pub async fn diff(store: &Store, project: &str, from: &str, to: &str) -> StoreResult<Diff> {
    let mut conn = store.pool().acquire().await?;
    let from_id = environment_id(&mut *conn, project, from).await?;
    let to_id = environment_id(&mut *conn, project, to).await?;
    let a = resolve(&mut conn, &from_id).await?;
    let b = resolve(&mut conn, &to_id).await?;
    Ok(diff_of(from, to, &a, &b))
}

/// What to promote.
#[derive(Debug, Clone, Default)]
pub struct PromotionRequest {
    /// Only these keys; all differing keys when `None`.
    pub keys: Option<Vec<String>>,
    /// Also remove `to`'s own overrides of keys that `from` does not have.
    pub remove_missing: bool,
    pub dry_run: bool,
}

/// One planned (or applied) change to `to`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlannedChange {
    pub key: String,
    /// `set` or `remove`.
    pub action: &'static str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Promotion {
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    pub changes: Vec<PlannedChange>,
}

/// Plans the promotion of `from` into `to` and, unless it is a dry run, applies it atomically.
#[tracing::instrument(skip_all, fields(project = %project, from = %from, to = %to))]
pub async fn promote(
    store: &Store,
    actor: &Actor,
    project: &str,
    from: &str,
    to: &str,
    request: PromotionRequest,
) -> StoreResult<Committed<Promotion>> {
    if from == to {
        return Err(StoreError::Refused(
            "an environment cannot be promoted into itself".into(),
        ));
    }
    // Unconditional: a concurrent write to `to` is retried against, never a 409 or 412.
    retrying(store, None, || {
        promote_once(store, actor, project, from, to, &request)
    })
    .await
}

/// One attempt of [`promote`], planned and applied in one transaction.
async fn promote_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    from: &str,
    to: &str,
    request: &PromotionRequest,
) -> StoreResult<Committed<Promotion>> {
    let mut tx = store.begin_write().await?;
    let from_id = environment_id(&mut *tx, project, from).await?;
    let to_id = environment_id(&mut *tx, project, to).await?;
    let a = resolve(&mut tx, &from_id).await?;
    let b = resolve(&mut tx, &to_id).await?;
    if let Some(keys) = &request.keys {
        let unknown: Vec<&str> = keys
            .iter()
            .filter(|k| !a.contains_key(*k) && !b.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Absent(format!(
                "config key(s) {} in environments '{from}' and '{to}'",
                unknown.join(", ")
            )));
        }
    }
    let wanted = |key: &str| {
        request
            .keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == key))
    };
    let diff = diff_of(from, to, &a, &b);
    let mut changes = Vec::new();
    for entry in diff.added.iter().filter(|e| wanted(&e.key)) {
        changes.push(PlannedChange {
            key: entry.key.clone(),
            action: "set",
            before: None,
            after: Some(entry.value.clone()),
        });
    }
    for entry in diff.changed.iter().filter(|e| wanted(&e.key)) {
        changes.push(PlannedChange {
            key: entry.key.clone(),
            action: "set",
            before: Some(entry.to.clone()),
            after: Some(entry.from.clone()),
        });
    }
    if request.remove_missing {
        // Only `to`'s own overrides can be removed; an inherited value belongs to its parent.
        for entry in diff
            .removed
            .iter()
            .filter(|e| wanted(&e.key) && e.source == to)
        {
            changes.push(PlannedChange {
                key: entry.key.clone(),
                action: "remove",
                before: Some(entry.value.clone()),
                after: None,
            });
        }
    }
    changes.sort_by(|x, y| x.key.cmp(&y.key));
    let promotion = Promotion {
        from: from.to_owned(),
        to: to.to_owned(),
        dry_run: request.dry_run,
        changes,
    };
    if request.dry_run || promotion.changes.is_empty() {
        return Ok(Committed::new(promotion, Changed::Nothing));
    }
    let comment = format!("promoted from {from}");
    for change in &promotion.changes {
        let description = a.get(&change.key).map(|e| e.description.clone());
        let key_change = KeyChange {
            key: change.key.clone(),
            value: change.after.clone(),
            description,
        };
        write_key(&mut tx, actor, &to_id, &key_change, None, &comment).await?;
    }
    bump_with_descendants(&mut tx, &to_id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "config.promote",
            project: Some(project),
            environment: Some(to),
            target: format!("project/{project}/environment/{to}/config"),
            before: Some(json!({ "from": from })),
            after: Some(json!({ "changes": promotion.changes })),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(promotion, Changed::project(project)))
}
