//! The append-only audit log. Rows for changes are written inside the transaction of the change
//! they describe (see [`append`]); rows for secret reads are group-committed before the value
//! is returned (`audit_batch`). No API updates or deletes them.

use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Store, StoreResult, format_micros};

/// Who performed a change, and from where.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    /// Id of the token used; `None` for host-side commands such as `bootstrap-token`.
    pub token_id: Option<String>,
    pub name: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The actor for commands run on the host (no token involved).
    pub fn host(command: &str) -> Self {
        Self {
            token_id: None,
            name: format!("host:{command}"),
            source_ip: None,
            request_id: None,
        }
    }
}

/// One change to record. `before`/`after` are the resource's public representation (never a
/// secret value).
#[derive(Debug)]
pub struct Change<'a> {
    pub action: &'a str,
    pub project: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Appends `change` as performed by `actor`; call inside the change's own transaction. The
/// same transaction queues the event's webhook deliveries (see `webhook_deliveries::enqueue`),
/// so every committed change is delivered and no rolled-back one is.
pub async fn append(
    conn: &mut AnyConnection,
    actor: &Actor,
    change: Change<'_>,
) -> StoreResult<()> {
    let record = Record::new(actor, change);
    let id: i64 = insert_query(std::slice::from_ref(&record), true)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    super::webhook_deliveries::enqueue(conn, id, record.project.as_deref(), &record.action).await
}

/// One audit row, owned: built when the change happens, inserted now ([`append`]) or with
/// others (`audit_batch`).
#[derive(Debug)]
pub(crate) struct Record {
    at: i64,
    actor: Actor,
    action: String,
    project: Option<String>,
    environment: Option<String>,
    target: String,
    before: Option<String>,
    after: Option<String>,
}

impl Record {
    /// `change` by `actor`, stamped now.
    pub(crate) fn new(actor: &Actor, change: Change<'_>) -> Self {
        Self {
            at: super::now_micros(),
            actor: actor.clone(),
            action: change.action.to_owned(),
            project: change.project.map(str::to_owned),
            environment: change.environment.map(str::to_owned),
            target: change.target,
            before: change.before.map(|v| v.to_string()),
            after: change.after.map(|v| v.to_string()),
        }
    }
}

/// Inserts `records` with one statement (one row each).
pub(crate) async fn insert<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    records: &[Record],
) -> StoreResult<()> {
    insert_query(records, false).execute(executor).await?;
    Ok(())
}

/// The `INSERT` of `records`, every value bound; `returning`: it answers the new ids.
fn insert_query(
    records: &[Record],
    returning: bool,
) -> sqlx::query::Query<'static, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
    const COLUMNS: usize = 11;
    let rows: Vec<String> = (0..records.len())
        .map(|r| {
            let params: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", r * COLUMNS + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_events (at, actor_token_id, actor_name, source_ip, request_id, action, \
         project, environment, target, before_state, after_state) VALUES {}{}",
        rows.join(", "),
        if returning { " RETURNING id" } else { "" }
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for record in records {
        query = query
            .bind(record.at)
            .bind(record.actor.token_id.clone())
            .bind(record.actor.name.clone())
            .bind(record.actor.source_ip.clone())
            .bind(record.actor.request_id.clone())
            .bind(record.action.clone())
            .bind(record.project.clone())
            .bind(record.environment.clone())
            .bind(record.target.clone())
            .bind(record.before.clone())
            .bind(record.after.clone());
    }
    query
}

/// Filters for [`list`]; every field is optional and they combine with AND.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only events of these projects (`None`: any, including events outside projects).
    pub projects: Option<Vec<String>>,
    pub project: Option<String>,
    /// Token id or actor name.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `*` (`token.*`).
    pub action: Option<String>,
    /// Inclusive lower bound, microseconds.
    pub since: Option<i64>,
    /// Exclusive upper bound, microseconds.
    pub until: Option<i64>,
    /// Only events older than this id (the pagination cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
    /// Only events of these environments and project-wide events of a project (`None`: any).
    /// Events outside projects (tokens, keys) are left out too: they describe every
    /// environment's tokens.
    pub environments: Option<Vec<String>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor: AuditActor,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AuditActor {
    pub token_id: Option<String>,
    pub name: String,
}

/// Newest first.
#[tracing::instrument(skip_all)]
pub async fn list(store: &Store, filter: &Filter) -> StoreResult<Vec<AuditEvent>> {
    // Built with numbered placeholders only (sqlx's query builder emits `?` for `Any`, which
    // PostgreSQL rejects); every value is bound, none is spliced into the text.
    let mut sql = String::from(
        "SELECT id, at, actor_token_id, actor_name, source_ip, request_id, action, project, \
         environment, target, before_state, after_state FROM audit_events WHERE 1 = 1",
    );
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, value: Bind| {
        binds.push(value);
        sql.push_str(&clause.replace('#', &format!("${}", binds.len())));
    };
    if let Some(allowed) = &filter.projects {
        if allowed.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(" AND project IN (");
        for (i, name) in allowed.iter().enumerate() {
            push(
                &mut sql,
                if i == 0 { "#" } else { ", #" },
                Bind::Text(name.clone()),
            );
        }
        sql.push(')');
    }
    if let Some(project) = &filter.project {
        push(&mut sql, " AND project = #", Bind::Text(project.clone()));
    }
    if let Some(allowed) = &filter.environments {
        sql.push_str(" AND ((environment IS NULL AND project IS NOT NULL)");
        for name in allowed {
            push(&mut sql, " OR environment = #", Bind::Text(name.clone()));
        }
        sql.push(')');
    }
    if let Some(actor) = &filter.actor {
        push(
            &mut sql,
            " AND (actor_token_id = #",
            Bind::Text(actor.clone()),
        );
        push(&mut sql, " OR actor_name = #)", Bind::Text(actor.clone()));
    }
    match &filter.action {
        Some(prefix) if prefix.ends_with('*') => {
            let pattern = format!("{}%", escape_like(&prefix[..prefix.len() - 1]));
            push(
                &mut sql,
                " AND action LIKE # ESCAPE '\\'",
                Bind::Text(pattern),
            );
        }
        Some(action) => push(&mut sql, " AND action = #", Bind::Text(action.clone())),
        None => {}
    }
    if let Some(since) = filter.since {
        push(&mut sql, " AND at >= #", Bind::Int(since));
    }
    if let Some(until) = filter.until {
        push(&mut sql, " AND at < #", Bind::Int(until));
    }
    if let Some(before) = filter.before_id {
        push(&mut sql, " AND id < #", Bind::Int(before));
    }
    push(
        &mut sql,
        " ORDER BY id DESC LIMIT #",
        Bind::Int(filter.limit),
    );

    let mut query = sqlx::query(AssertSqlSafe(sql));
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Int(int) => query.bind(int),
        };
    }
    let rows = query.fetch_all(store.pool()).await?;
    rows.iter().map(event_from_row).collect()
}

enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) fn event_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        at: format_micros(row.try_get("at")?),
        actor: AuditActor {
            token_id: row.try_get("actor_token_id")?,
            name: row.try_get("actor_name")?,
        },
        source_ip: row.try_get("source_ip")?,
        request_id: row.try_get("request_id")?,
        action: row.try_get("action")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        target: row.try_get("target")?,
        before: parse_json(row.try_get("before_state")?),
        after: parse_json(row.try_get("after_state")?),
    })
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
