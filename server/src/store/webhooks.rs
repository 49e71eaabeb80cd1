//! Webhook endpoints of a project: where deliveries go, which events, in which format, and the
//! signing secret, kept sealed by the master keyring (bound to the endpoint's id, so a wrapped
//! secret copied onto another endpoint's row does not open). The secret leaves this module
//! only at creation and rotation (to be shown once) and to the delivery worker.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{self, Actor, Change};
use super::lookup::project_id;
use super::{Store, StoreError, StoreResult, format_micros, now_micros};
use crate::keys::Keyring;
use crate::webhooks::{EndpointUrl, EventFilter, Format, SigningSecret};

/// An endpoint as the API shows it (never its secret).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub project: String,
    pub url: EndpointUrl,
    pub description: String,
    pub events: EventFilter,
    pub format: Format,
    pub enabled: bool,
    /// Whether events outside projects (tokens, the master key) are delivered too: only for
    /// endpoints created by a token that reaches every project (as `/v1/audit` shows them).
    pub global_events: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Endpoint {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            project: row.try_get("project")?,
            url: EndpointUrl::stored(row.try_get("url")?),
            description: row.try_get("description")?,
            events: EventFilter::stored(&row.try_get::<String, _>("events")?),
            format: Format::stored(&row.try_get::<String, _>("format")?),
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            global_events: row.try_get::<i64, _>("global_events")? != 0,
            created_at: format_micros(row.try_get("created_at")?),
            updated_at: format_micros(row.try_get("updated_at")?),
        })
    }

    fn audit_view(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "events": self.events,
            "format": self.format,
            "enabled": self.enabled,
        })
    }

    fn target(&self) -> String {
        format!("project/{}/webhook/{}", self.project, self.id)
    }
}

/// What a new endpoint is made of (validated by the caller's types).
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: String,
    pub events: EventFilter,
    pub format: Format,
    pub enabled: bool,
    pub global_events: bool,
}

/// A change to an endpoint; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<EndpointUrl>,
    pub description: Option<String>,
    pub events: Option<EventFilter>,
    pub format: Option<Format>,
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT w.id, p.name AS project, w.url, w.description, w.events, w.format, \
     w.enabled, w.global_events, w.created_at, w.updated_at \
     FROM webhook_endpoints w JOIN projects p ON p.id = w.project_id";

fn aad(id: &str) -> Vec<u8> {
    format!("switchboard:webhook-secret:{id}").into_bytes()
}

/// Creates an endpoint with a fresh signing secret, returned to be shown once.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn create(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    project: &str,
    new: NewEndpoint,
) -> StoreResult<(Endpoint, SigningSecret)> {
    let id = uuid::Uuid::now_v7().to_string();
    let secret = SigningSecret::generate();
    let (master_key_id, wrapped) = keyring.wrap(secret.bytes(), &aad(&id))?;
    let mut tx = store.begin_write().await?;
    let project_id = project_id(&mut *tx, project).await?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, project_id, url, description, events, format, \
         enabled, global_events, master_key_id, wrapped_secret, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(id.clone())
    .bind(project_id)
    .bind(new.url.as_str().to_owned())
    .bind(new.description.clone())
    .bind(new.events.to_json())
    .bind(new.format.as_str())
    .bind(i64::from(new.enabled))
    .bind(i64::from(new.global_events))
    .bind(master_key_id)
    .bind(wrapped)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let endpoint = Endpoint {
        id,
        project: project.to_owned(),
        url: new.url,
        description: new.description,
        events: new.events,
        format: new.format,
        enabled: new.enabled,
        global_events: new.global_events,
        created_at: format_micros(now),
        updated_at: format_micros(now),
    };
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "webhook.create",
            project: Some(project),
            environment: None,
            target: endpoint.target(),
            before: None,
            after: Some(endpoint.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok((endpoint, secret))
}

/// The project's endpoints, oldest first.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn list(store: &Store, project: &str) -> StoreResult<Vec<Endpoint>> {
    project_id(store.pool(), project).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 ORDER BY w.id"
    )))
    .bind(project.to_owned())
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(Endpoint::from_row).collect()
}

/// One endpoint of `project`; [`StoreError::NotFound`] when the project has no such endpoint.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn get(store: &Store, project: &str, id: &str) -> StoreResult<Endpoint> {
    fetch(store.pool(), project, id).await
}

async fn fetch<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    project: &str,
    id: &str,
) -> StoreResult<Endpoint> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND w.id = $2"
    )))
    .bind(project.to_owned())
    .bind(id.to_owned())
    .fetch_one(executor)
    .await?;
    Endpoint::from_row(&row)
}

#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn update(
    store: &Store,
    actor: &Actor,
    project: &str,
    id: &str,
    patch: EndpointPatch,
) -> StoreResult<Endpoint> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut *tx, project, id).await?;
    let now = now_micros();
    let after = Endpoint {
        url: patch.url.unwrap_or_else(|| before.url.clone()),
        description: patch
            .description
            .unwrap_or_else(|| before.description.clone()),
        events: patch.events.unwrap_or_else(|| before.events.clone()),
        format: patch.format.unwrap_or(before.format),
        enabled: patch.enabled.unwrap_or(before.enabled),
        updated_at: format_micros(now),
        ..before.clone()
    };
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, format = $4, \
         enabled = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(after.url.as_str().to_owned())
    .bind(after.description.clone())
    .bind(after.events.to_json())
    .bind(after.format.as_str())
    .bind(i64::from(after.enabled))
    .bind(now)
    .bind(id.to_owned())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "webhook.update",
            project: Some(project),
            environment: None,
            target: after.target(),
            before: Some(before.audit_view()),
            after: Some(after.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(after)
}

/// Deletes an endpoint with its deliveries and their log.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn delete(store: &Store, actor: &Actor, project: &str, id: &str) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut *tx, project, id).await?;
    // Children first: SQLite enforces the cascade only with its foreign keys on, and every
    // connection of ours turns them on, but a row left by an older build must not block this.
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
    )
    .bind(id.to_owned())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "webhook.delete",
            project: Some(project),
            environment: None,
            target: before.target(),
            before: Some(before.audit_view()),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(())
}

/// Replaces the endpoint's signing secret; the new one is returned to be shown once. Deliveries
/// sent from now on (retries included) are signed with it.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn rotate_secret(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    project: &str,
    id: &str,
) -> StoreResult<(Endpoint, SigningSecret)> {
    let secret = SigningSecret::generate();
    let (master_key_id, wrapped) = keyring.wrap(secret.bytes(), &aad(id))?;
    let mut tx = store.begin_write().await?;
    let endpoint = fetch(&mut *tx, project, id).await?;
    let now = now_micros();
    sqlx::query(
        "UPDATE webhook_endpoints SET master_key_id = $1, wrapped_secret = $2, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(master_key_id)
    .bind(wrapped)
    .bind(now)
    .bind(id.to_owned())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "webhook.rotate_secret",
            project: Some(project),
            environment: None,
            target: endpoint.target(),
            before: None,
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    let endpoint = Endpoint {
        updated_at: format_micros(now),
        ..endpoint
    };
    Ok((endpoint, secret))
}

/// The signing secret of endpoint `id`, decrypted (for the delivery worker).
pub(crate) async fn secret(
    store: &Store,
    keyring: &Keyring,
    id: &str,
) -> StoreResult<SigningSecret> {
    let row =
        sqlx::query("SELECT master_key_id, wrapped_secret FROM webhook_endpoints WHERE id = $1")
            .bind(id.to_owned())
            .fetch_one(store.pool())
            .await?;
    let master_key_id: String = row.try_get("master_key_id")?;
    let wrapped: Vec<u8> = row.try_get("wrapped_secret")?;
    let bytes = keyring
        .unwrap(&master_key_id, &wrapped, &aad(id))
        .map_err(|e| {
            anyhow::anyhow!("webhook {id}: the signing secret cannot be decrypted: {e}")
        })?;
    SigningSecret::from_bytes(&bytes).ok_or_else(|| {
        StoreError::Other(anyhow::anyhow!(
            "webhook {id}: the signing secret is not 32 bytes"
        ))
    })
}

/// Re-wraps every endpoint secret not yet under the keyring's active master key (part of a
/// master key rotation). Returns how many were re-wrapped.
pub async fn rewrap(store: &Store, keyring: &Keyring) -> StoreResult<u64> {
    let rows = sqlx::query("SELECT id FROM webhook_endpoints WHERE master_key_id <> $1")
        .bind(keyring.active_id().to_owned())
        .fetch_all(store.pool())
        .await?;
    let mut count = 0;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let secret = secret(store, keyring, &id).await?;
        let (master_key_id, wrapped) = keyring.wrap(secret.bytes(), &aad(&id))?;
        sqlx::query(
            "UPDATE webhook_endpoints SET master_key_id = $1, wrapped_secret = $2 WHERE id = $3",
        )
        .bind(master_key_id)
        .bind(wrapped)
        .bind(id)
        .execute(store.pool())
        .await?;
        count += 1;
    }
    Ok(count)
}
