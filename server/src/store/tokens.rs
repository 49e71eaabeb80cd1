//! Token records. The JWT itself is never stored: only its id (the `jti`), what it may do, and
//! whether it was revoked.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::audit::{self, Actor, Change};
use super::{Store, StoreError, StoreResult, format_micros, now_micros};
use crate::domain::{Access, Scope, ScopeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub projects: Access,
    pub environments: Access,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
    /// For a token issued by an OIDC token exchange: the policy and who it was issued to.
    pub federation: Option<Federation>,
}

/// The trust policy and federated identity (a CI job) an exchanged token was issued to, as
/// its verified identity token said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Federation {
    /// `project/name` of the trust policy.
    pub policy: String,
    pub issuer: String,
    pub subject: String,
    /// GitHub's `repository`, GitLab's `project_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// GitHub's `run_id`, GitLab's `pipeline_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The public view of a token record (what list and issue responses show; never the JWT).
#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub projects: Vec<String>,
    pub environments: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federation: Option<Federation>,
}

impl TokenRecord {
    pub fn scope_set(&self) -> ScopeSet {
        ScopeSet::from_scopes(&self.scopes)
    }

    pub fn view(&self) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            projects: self.projects.to_names(),
            environments: self.environments.to_names(),
            created_at: format_micros(self.created_at),
            expires_at: format_micros(self.expires_at),
            revoked_at: self.revoked_at.map(format_micros),
            created_by: self.created_by.clone(),
            federation: self.federation.clone(),
        }
    }

    fn audit_view(&self) -> serde_json::Value {
        let mut view = json!({
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes,
            "projects": self.projects.to_names(),
            "environments": self.environments.to_names(),
            "expires_at": format_micros(self.expires_at),
        });
        if let (Some(federation), Some(fields)) = (&self.federation, view.as_object_mut()) {
            fields.insert("federation".into(), json!(federation));
        }
        view
    }

    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        let parse_list = |column: &str| -> StoreResult<Vec<String>> {
            let text: String = row.try_get(column)?;
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("tokens.{column} is not a JSON list: {e}").into())
        };
        let access = |column: &str| -> StoreResult<Access> {
            Access::from_names(&parse_list(column)?)
                .map_err(|e| anyhow::anyhow!("tokens.{column}: {e}").into())
        };
        let scopes: Vec<Scope> = serde_json::from_str(&row.try_get::<String, _>("scopes")?)
            .map_err(|e| anyhow::anyhow!("tokens.scopes: {e}"))?;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            scopes,
            projects: access("projects")?,
            environments: access("environments")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            created_by: row.try_get("created_by")?,
            federation: row
                .try_get::<Option<String>, _>("federation")?
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| anyhow::anyhow!("tokens.federation: {e}"))?,
        })
    }
}

const COLUMNS: &str = "id, name, scopes, projects, environments, created_at, expires_at, revoked_at, created_by, federation";

/// Inserts `record` and its audit event on `conn` (the caller owns the transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    actor: &Actor,
    record: &TokenRecord,
) -> StoreResult<()> {
    if let Some(issuer) = &record.created_by {
        // Locks the issuer's row (a no-op update) so that a concurrent revocation of the issuer
        // either waits for this insert and then revokes the new token with it, or committed
        // first and this issue is refused: no token outlives its issuer's revocation.
        let live = sqlx::query(
            "UPDATE tokens SET revoked_at = revoked_at WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(issuer.clone())
        .execute(&mut *conn)
        .await?;
        if live.rows_affected() == 0 {
            return Err(StoreError::Refused(
                "the issuing token was revoked; nothing was issued".into(),
            ));
        }
    }
    sqlx::query(
        "INSERT INTO tokens (id, name, scopes, projects, environments, created_at, expires_at, revoked_at, created_by, federation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)",
    )
    .bind(record.id.clone())
    .bind(record.name.clone())
    .bind(serde_json::to_string(&record.scopes).map_err(anyhow::Error::from)?)
    .bind(serde_json::to_string(&record.projects.to_names()).map_err(anyhow::Error::from)?)
    .bind(serde_json::to_string(&record.environments.to_names()).map_err(anyhow::Error::from)?)
    .bind(record.created_at)
    .bind(record.expires_at)
    .bind(record.created_by.clone())
    .bind(
        record
            .federation
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(anyhow::Error::from)?,
    )
    .execute(&mut *conn)
    .await?;
    record_token_event(
        conn,
        actor,
        record,
        "token.issue",
        None,
        Some(record.audit_view()),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn get(store: &Store, id: &str) -> StoreResult<TokenRecord> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tokens WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_one(store.pool())
    .await?;
    TokenRecord::from_row(&row)
}

/// A page of tokens, newest first (ids are UUIDv7, so they sort by creation time).
#[tracing::instrument(skip_all)]
pub async fn list(
    store: &Store,
    before_id: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<TokenRecord>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tokens WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(before_id.map(str::to_owned))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(TokenRecord::from_row).collect()
}

/// Marks the token revoked, and with it every token it issued, transitively, each with its own
/// `token.revoke` audit event (those revoked with their issuer name it in `after`). Idempotent:
/// revoking twice keeps the first time. Returns the token first, then the ones revoked with it.
#[tracing::instrument(skip_all)]
pub async fn revoke(store: &Store, actor: &Actor, id: &str) -> StoreResult<Vec<TokenRecord>> {
    let mut tx = store.begin_write().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tokens WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_one(&mut *tx)
    .await?;
    let now = now_micros();
    let mut record = TokenRecord::from_row(&row)?;
    if record.revoked_at.is_none() {
        mark_revoked(&mut tx, actor, &mut record, now, None).await?;
    }
    let mut revoked = vec![record];
    // Breadth first through the issued tokens. Children of an already revoked token are still
    // visited: tokens issued before this rule existed are revoked with their issuer too.
    let mut next = 0;
    while let Some(issuer) = revoked.get(next).map(|r| r.id.clone()) {
        next += 1;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tokens WHERE created_by = $1 AND revoked_at IS NULL ORDER BY id"
        )))
        .bind(issuer.clone())
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let mut child = TokenRecord::from_row(row)?;
            mark_revoked(&mut tx, actor, &mut child, now, Some(&issuer)).await?;
            revoked.push(child);
        }
    }
    super::write_scope::commit(tx).await?;
    Ok(revoked)
}

/// Sets `revoked_at` and appends the audit event; `because` names the revoked issuer when the
/// token is revoked with it.
async fn mark_revoked(
    conn: &mut AnyConnection,
    actor: &Actor,
    record: &mut TokenRecord,
    now: i64,
    because: Option<&str>,
) -> StoreResult<()> {
    sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2")
        .bind(now)
        .bind(record.id.clone())
        .execute(&mut *conn)
        .await?;
    record.revoked_at = Some(now);
    let after = because.map(|issuer| json!({ "revoked_with": format!("token/{issuer}") }));
    record_token_event(
        conn,
        actor,
        record,
        "token.revoke",
        Some(record.audit_view()),
        after,
    )
    .await
}

/// Appends a token's audit event once per place the token reaches: per project it names, and
/// per environment when it names environments, so that `GET /v1/audit?project=…` finds it and
/// a reader limited to other environments does not. A token for all projects is an event
/// outside projects (only readers of all projects see it).
async fn record_token_event(
    conn: &mut AnyConnection,
    actor: &Actor,
    record: &TokenRecord,
    action: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> StoreResult<()> {
    let projects: Vec<Option<String>> = match &record.projects {
        Access::All => vec![None],
        Access::Only(names) => names.iter().map(|n| Some(n.to_string())).collect(),
    };
    let environments: Vec<Option<String>> = match &record.environments {
        Access::All => vec![None],
        Access::Only(names) => names.iter().map(|n| Some(n.to_string())).collect(),
    };
    let mut records = Vec::new();
    for project in &projects {
        // Environments are only meaningful inside a project.
        let environments = if project.is_some() {
            environments.as_slice()
        } else {
            &[None]
        };
        for environment in environments {
            records.push(audit::Record::new(
                actor,
                Change {
                    action,
                    project: project.as_deref(),
                    environment: environment.as_deref(),
                    target: format!("token/{}", record.id),
                    before: before.clone(),
                    after: after.clone(),
                },
            ));
        }
    }
    audit::insert(conn, &records).await
}

/// Revoked tokens that have not expired yet (id and expiry): what every instance must refuse
/// even from its cache.
pub async fn revoked_ids(store: &Store, now: i64) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT id, expires_at FROM tokens WHERE revoked_at IS NOT NULL AND expires_at > $1",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("expires_at")?)))
        .collect()
}

/// A value that changes whenever any token is revoked; instances compare it to drop cached
/// verifications that a revocation on another instance made stale.
pub async fn revocation_marker(store: &Store) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(MAX(revoked_at), 0) AS latest FROM tokens WHERE revoked_at IS NOT NULL",
    )
    .fetch_one(store.pool())
    .await?;
    Ok((row.try_get("n")?, row.try_get("latest")?))
}

/// Records that the one-time event `name` happened; `false` when it already had.
pub async fn claim_once(conn: &mut AnyConnection, name: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO store_events (name, at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name.to_owned())
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
