//! Trust policies (per project) and the identity tokens already exchanged.
//!
//! Policies are written with their audit event in the same transaction, like every other
//! resource. The seen-token table holds `(issuer, jti)` of every accepted identity token until
//! it expires, so a replay is refused on every instance; expired rows are pruned by the
//! exchanges themselves (a bounded delete every few exchanges), so the table stays as small as
//! the number of identity tokens alive at once.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::audit::{self, Actor, Change};
use super::{Store, StoreError, StoreResult, lookup, now_micros};
use crate::domain::{Access, Scope, Slug};
use crate::oidc::claims::BoundClaims;
use crate::oidc::policy::{PolicySpec, TrustPolicy};

const COLUMNS: &str = "p.id, pr.name AS project, p.name, p.issuer, p.audiences, p.bound_claims, \
     p.scopes, p.environments, p.ttl_seconds, p.created_at, p.updated_at";

fn from_row(row: &AnyRow) -> StoreResult<TrustPolicy> {
    let json = |column: &str| -> StoreResult<String> { Ok(row.try_get::<String, _>(column)?) };
    let corrupt = |column: &str, e: &dyn std::fmt::Display| {
        StoreError::Other(anyhow::anyhow!("oidc_policies.{column}: {e}"))
    };
    let audiences: Vec<String> =
        serde_json::from_str(&json("audiences")?).map_err(|e| corrupt("audiences", &e))?;
    let claims: BTreeMap<String, String> =
        serde_json::from_str(&json("bound_claims")?).map_err(|e| corrupt("bound_claims", &e))?;
    let bound_claims = BoundClaims::parse(&claims)
        .map_err(|_| corrupt("bound_claims", &"no longer a valid policy"))?;
    let scopes: Vec<Scope> =
        serde_json::from_str(&json("scopes")?).map_err(|e| corrupt("scopes", &e))?;
    let environments: Vec<String> =
        serde_json::from_str(&json("environments")?).map_err(|e| corrupt("environments", &e))?;
    let environments =
        Access::from_names(&environments).map_err(|e| corrupt("environments", &e))?;
    let ttl: i64 = row.try_get("ttl_seconds")?;
    Ok(TrustPolicy {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        name: row.try_get("name")?,
        spec: PolicySpec {
            issuer: row.try_get("issuer")?,
            audiences,
            bound_claims,
            scopes,
            environments,
            ttl_secs: u64::try_from(ttl).map_err(|e| corrupt("ttl_seconds", &e))?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// Creates policy `name` in `project`; [`StoreError::Conflict`] when the name is taken.
#[tracing::instrument(skip_all)]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &Slug,
    spec: &PolicySpec,
) -> StoreResult<TrustPolicy> {
    let mut tx = store.begin_write().await?;
    let project_id = lookup::project_id(&mut *tx, project).await?;
    let now = now_micros();
    let policy = TrustPolicy {
        id: uuid::Uuid::now_v7().to_string(),
        project: project.to_owned(),
        name: name.to_string(),
        spec: spec.clone(),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO oidc_policies (id, project_id, name, issuer, audiences, bound_claims, scopes, \
         environments, ttl_seconds, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(policy.id.clone())
    .bind(project_id)
    .bind(policy.name.clone())
    .bind(spec.issuer.clone())
    .bind(to_json(&spec.audiences)?)
    .bind(to_json(&spec.bound_claims.to_map())?)
    .bind(to_json(&spec.scopes)?)
    .bind(to_json(&spec.environments.to_names())?)
    .bind(i64::try_from(spec.ttl_secs).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit_change(&mut tx, actor, "oidc_policy.create", &policy, None).await?;
    super::write_scope::commit(tx).await?;
    Ok(policy)
}

/// Replaces the policy's content (name and project stay); [`StoreError::NotFound`] if absent.
#[tracing::instrument(skip_all)]
pub async fn replace(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
    spec: &PolicySpec,
) -> StoreResult<TrustPolicy> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut tx, project, name).await?;
    let now = now_micros();
    sqlx::query(
        "UPDATE oidc_policies SET issuer = $1, audiences = $2, bound_claims = $3, scopes = $4, \
         environments = $5, ttl_seconds = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(spec.issuer.clone())
    .bind(to_json(&spec.audiences)?)
    .bind(to_json(&spec.bound_claims.to_map())?)
    .bind(to_json(&spec.scopes)?)
    .bind(to_json(&spec.environments.to_names())?)
    .bind(i64::try_from(spec.ttl_secs).unwrap_or(i64::MAX))
    .bind(now)
    .bind(before.id.clone())
    .execute(&mut *tx)
    .await?;
    let after = TrustPolicy {
        spec: spec.clone(),
        updated_at: now,
        ..before.clone()
    };
    audit_change(&mut tx, actor, "oidc_policy.update", &after, Some(&before)).await?;
    super::write_scope::commit(tx).await?;
    Ok(after)
}

/// Deletes the policy; tokens it issued stay valid until they expire (revoke them by id).
#[tracing::instrument(skip_all)]
pub async fn delete(store: &Store, actor: &Actor, project: &str, name: &str) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut tx, project, name).await?;
    sqlx::query("DELETE FROM oidc_policies WHERE id = $1")
        .bind(before.id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "oidc_policy.delete",
            project: Some(project),
            environment: None,
            target: format!("oidc-policy/{}", before.reference()),
            before: Some(audit_view(&before)),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(())
}

fn audit_view(policy: &TrustPolicy) -> serde_json::Value {
    json!(policy.view())
}

async fn audit_change(
    conn: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    after: &TrustPolicy,
    before: Option<&TrustPolicy>,
) -> StoreResult<()> {
    audit::append(
        conn,
        actor,
        Change {
            action,
            project: Some(&after.project),
            environment: None,
            target: format!("oidc-policy/{}", after.reference()),
            before: before.map(audit_view),
            after: Some(audit_view(after)),
        },
    )
    .await
}

async fn fetch(conn: &mut AnyConnection, project: &str, name: &str) -> StoreResult<TrustPolicy> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_policies p JOIN projects pr ON pr.id = p.project_id \
         WHERE pr.name = $1 AND p.name = $2"
    )))
    .bind(project.to_owned())
    .bind(name.to_owned())
    .fetch_one(conn)
    .await?;
    from_row(&row)
}

/// Policy `name` of `project`; [`StoreError::NotFound`] if either is absent.
#[tracing::instrument(skip_all)]
pub async fn get(store: &Store, project: &str, name: &str) -> StoreResult<TrustPolicy> {
    let mut conn = store.pool().acquire().await?;
    fetch(&mut conn, project, name).await
}

/// The project's policies, by name.
#[tracing::instrument(skip_all)]
pub async fn list(store: &Store, project: &str) -> StoreResult<Vec<TrustPolicy>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_policies p JOIN projects pr ON pr.id = p.project_id \
         WHERE pr.name = $1 ORDER BY p.name"
    )))
    .bind(project.to_owned())
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records that the identity token `(issuer, jti)` was exchanged, inside the exchange's
/// transaction; `false` when it already was (a replay). Every 32nd call also prunes expired
/// rows, so the table never holds more than the identity tokens still alive.
pub async fn remember_exchanged(
    conn: &mut AnyConnection,
    issuer: &str,
    jti: &str,
    expires_at: i64,
) -> StoreResult<bool> {
    let now = now_micros();
    if rand::random_range(0..32) == 0 {
        sqlx::query("DELETE FROM oidc_seen_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    // A row left from an expired token with the same id no longer counts.
    sqlx::query("DELETE FROM oidc_seen_tokens WHERE issuer = $1 AND jti = $2 AND expires_at < $3")
        .bind(issuer.to_owned())
        .bind(jti.to_owned())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO oidc_seen_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (issuer, jti) DO NOTHING",
    )
    .bind(issuer.to_owned())
    .bind(jti.to_owned())
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// How many exchanged identity tokens are remembered (tests check the pruning).
pub async fn remembered_count(store: &Store) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM oidc_seen_tokens")
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get("n")?)
}
