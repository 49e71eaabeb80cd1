//! Release plans in the database: creation, reads, and transitions.
//!
//! A transition ([`transition`]) is one transaction: a compare-and-set of the plan's row on its
//! `version`, the flag write the transition makes (through [`flag_states::change_in`], the
//! flag-state API's own write path: a new version, its audit event, the environment's
//! revision) and the plan's audit events naming plan and step. Two instances that decide the
//! same transition from the same row cannot both commit it: the second one's `UPDATE … WHERE
//! version = $n` matches nothing and it gets [`StoreError::Stale`]. So a step is applied once,
//! whoever holds the scheduler's lease.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};
use switchboard_core::{FlagState, validate_state};

use super::audit::{self, Actor, Change};
use super::flag_states::{self, StateView};
use super::flags;
use super::lookup::environment_ids;
use super::{Store, StoreError, StoreResult, WriteIntent, format_micros, now_micros};
use crate::changes::{Changed, Committed};
use crate::delivery::lifecycle::{Effect, FlagWrite, Progress};
use crate::delivery::model::{Change as StepChange, PlanBody, PlanSpec, PlanStatus, UrlPolicy};

/// A plan as the API shows it: its definition, where it is, and why it stopped or paused.
#[derive(Clone, Debug, Serialize)]
pub struct PlanView {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    pub status: PlanStatus,
    /// Index of the step in force; `null` before the start.
    pub current_step: Option<i64>,
    #[serde(flatten)]
    pub spec: PlanBody,
    pub hold_until: Option<String>,
    pub next_check_at: Option<String>,
    pub consecutive_failures: i64,
    pub last_check: Option<Value>,
    pub reason: Option<Value>,
    pub version: i64,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A plan's row, parsed: what transitions are decided from.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    pub spec: PlanSpec,
    pub progress: Progress,
    pub pre_plan_state: Option<FlagState>,
    pub version: i64,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl Plan {
    pub fn view(&self) -> PlanView {
        let p = &self.progress;
        PlanView {
            id: self.id.clone(),
            project: self.project.clone(),
            environment: self.environment.clone(),
            flag: self.flag.clone(),
            status: p.status,
            current_step: (p.current_step >= 0).then_some(p.current_step),
            spec: self.spec.body().clone(),
            hold_until: p.hold_until.map(format_micros),
            next_check_at: p.next_check_at.map(format_micros),
            consecutive_failures: p.failures,
            last_check: p.last_check.clone(),
            reason: p.reason.clone(),
            version: self.version,
            created_by: self.created_by.clone(),
            created_at: format_micros(self.created_at),
            updated_at: format_micros(self.updated_at),
        }
    }

    fn target(&self) -> String {
        format!(
            "project/{}/environment/{}/flag/{}/plan/{}",
            self.project, self.environment, self.flag, self.id
        )
    }
}

/// Stored plans were checked when created; the guards' URLs are checked again when evaluated.
struct AsStored;

impl UrlPolicy for AsStored {
    fn allows(&self, _: &reqwest::Url) -> bool {
        true
    }
    fn has_prometheus(&self) -> bool {
        true
    }
}

const SELECT: &str = "SELECT r.id, p.name AS project, e.name AS environment, f.key AS flag, r.spec, \
    r.status, r.current_step, r.hold_until, r.hold_left_ms, r.next_check_at, r.failures, \
    r.pre_plan_state, r.last_check, r.reason, r.version, r.created_by, r.created_at, r.updated_at \
    FROM release_plans r JOIN flags f ON f.id = r.flag_id \
    JOIN environments e ON e.id = r.environment_id JOIN projects p ON p.id = e.project_id";

fn corrupt(what: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "stored release plan: {what} does not parse"
    ))
}

fn json_column(row: &sqlx::any::AnyRow, name: &str) -> StoreResult<Option<Value>> {
    row.try_get::<Option<String>, _>(name)?
        .map(|text| serde_json::from_str(&text).map_err(|_| corrupt(name)))
        .transpose()
}

fn parse_row(row: &sqlx::any::AnyRow) -> StoreResult<Plan> {
    let body: PlanBody =
        serde_json::from_str(&row.try_get::<String, _>("spec")?).map_err(|_| corrupt("spec"))?;
    let spec = PlanSpec::parse(body, &AsStored).map_err(|_| corrupt("spec"))?;
    let status =
        PlanStatus::parse(&row.try_get::<String, _>("status")?).ok_or_else(|| corrupt("status"))?;
    let pre_plan_state = json_column(row, "pre_plan_state")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|_| corrupt("pre_plan_state"))?;
    Ok(Plan {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        flag: row.try_get("flag")?,
        spec,
        progress: Progress {
            status,
            current_step: row.try_get("current_step")?,
            hold_until: row.try_get("hold_until")?,
            hold_left_ms: row.try_get("hold_left_ms")?,
            next_check_at: row.try_get("next_check_at")?,
            failures: row.try_get("failures")?,
            last_check: json_column(row, "last_check")?,
            reason: json_column(row, "reason")?,
        },
        pre_plan_state,
        version: row.try_get("version")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Creates a pending plan for the flag in the environment. Every step is applied, in order, to
/// the flag's current state and validated against its definition now, so that a plan that
/// would fail at its third step at 3 a.m. is refused at creation instead.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, flag = %key))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    key: &str,
    spec: &PlanSpec,
) -> StoreResult<Plan> {
    let mut tx = store.begin_write().await?;
    let ids = environment_ids(&mut *tx, project, env).await?;
    let flag = flags::fetch(&mut *tx, project, key).await?;
    let current = flag_states::get_in(&mut tx, &flag, &ids.environment_id).await?;
    let segments = flag_states::segment_names(&mut tx, &flag.project_id).await?;
    let mut state = current;
    for (i, step) in spec.steps.iter().enumerate() {
        let field = format!("steps[{i}]");
        state = step
            .change
            .apply(&flag.definition, state, &spec.arms)
            .map_err(StoreError::Invalid)?;
        validate_state(&flag.definition, &state, |name| {
            segments.iter().any(|s| s == name)
        })
        .map_err(|e| StoreError::Invalid(e.prefixed(&field)))?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    let text = serde_json::to_string(spec.body()).map_err(anyhow::Error::from)?;
    let inserted = sqlx::query(
        "INSERT INTO release_plans (id, flag_id, environment_id, spec, status, current_step, \
         failures, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', -1, 0, 1, $5, $6, $6)",
    )
    .bind(id.clone())
    .bind(flag.id.clone())
    .bind(ids.environment_id.clone())
    .bind(text)
    .bind(actor.name.clone())
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(error) = inserted {
        return Err(match StoreError::from(error) {
            StoreError::Conflict => StoreError::Refused(format!(
                "flag '{key}' already has an active release plan in environment '{env}'; \
                 abort it or let it finish first"
            )),
            other => other,
        });
    }
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "release_plan.created",
            project: Some(project),
            environment: Some(env),
            target: format!("project/{project}/environment/{env}/flag/{key}/plan/{id}"),
            before: None,
            after: Some(json!({
                "plan": id,
                "steps": spec.body().steps,
                "guards": crate::delivery::guards::describe(&spec.body().guards),
                "on_failure": spec.on_failure,
                "failure_threshold": spec.failure_threshold,
            })),
        },
    )
    .await?;
    let plan = fetch(&mut tx, &id).await?;
    super::write_scope::commit(tx).await?;
    Ok(plan)
}

async fn fetch(conn: &mut AnyConnection, id: &str) -> StoreResult<Plan> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.id = $1")))
        .bind(id.to_owned())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("release plan '{id}'")))?;
    parse_row(&row)
}

/// The plan `id` of the flag in the environment (another flag's plan is not found).
pub async fn get(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    id: &str,
) -> StoreResult<Plan> {
    let mut conn = store.pool().acquire().await?;
    let plan = fetch(&mut conn, id).await?;
    if plan.project != project || plan.environment != env || plan.flag != key {
        return Err(StoreError::Absent(format!("release plan '{id}'")));
    }
    Ok(plan)
}

/// The flag's plans in the environment, newest first (at most `limit`).
pub async fn list(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    limit: usize,
) -> StoreResult<Vec<Plan>> {
    let mut conn = store.pool().acquire().await?;
    let ids = environment_ids(&mut *conn, project, env).await?;
    let flag = flags::fetch(&mut *conn, project, key).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.flag_id = $1 AND r.environment_id = $2 ORDER BY r.created_at DESC, r.id DESC LIMIT $3"
    )))
    .bind(flag.id)
    .bind(ids.environment_id)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(parse_row).collect()
}

/// Running plans whose next evaluation is due at `now`, oldest due first.
pub async fn due(store: &Store, now: i64, limit: i64) -> StoreResult<Vec<Plan>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.status = 'running' AND r.next_check_at <= $1 ORDER BY r.next_check_at LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(parse_row).collect()
}

/// Who writes the flag when the scheduler moves a plan: named after the plan, so the flag's
/// history says which plan made each version.
pub fn plan_actor(id: &str) -> Actor {
    Actor {
        token_id: None,
        name: format!("release-plan:{id}"),
        source_ip: None,
        request_id: None,
    }
}

/// Commits `effect` on `plan` as read at `plan.version`: the plan's row, the flag write and the
/// audit events, in one transaction. [`StoreError::Stale`] when someone else moved the plan
/// first (nothing is written then).
#[tracing::instrument(skip_all, fields(plan = %plan.id))]
pub async fn transition(
    store: &Store,
    actor: &Actor,
    plan: &Plan,
    effect: &Effect,
) -> StoreResult<Committed<Plan>> {
    let mut tx = store.begin_write().await?;
    let p = &effect.progress;
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    let now = now_micros();
    let updated = sqlx::query(
        "UPDATE release_plans SET status = $1, current_step = $2, hold_until = $3, \
         hold_left_ms = $4, next_check_at = $5, failures = $6, last_check = $7, reason = $8, \
         version = version + 1, updated_at = $9 WHERE id = $10 AND version = $11",
    )
    .bind(p.status.as_str())
    .bind(p.current_step)
    .bind(p.hold_until)
    .bind(p.hold_left_ms)
    .bind(p.next_check_at)
    .bind(p.failures)
    .bind(text(&p.last_check))
    .bind(text(&p.reason))
    .bind(now)
    .bind(plan.id.clone())
    .bind(plan.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Stale {
            expected: plan.version,
            current: plan.version + 1,
        });
    }
    let mut flag_version = None;
    let mut changed = Changed::Nothing;
    if let Some(write) = effect.write {
        let (view, before) = write_flag(&mut tx, actor, plan, write).await?;
        if matches!(write, FlagWrite::Step(0)) && plan.pre_plan_state.is_none() {
            sqlx::query("UPDATE release_plans SET pre_plan_state = $1 WHERE id = $2")
                .bind(serde_json::to_string(&before).map_err(anyhow::Error::from)?)
                .bind(plan.id.clone())
                .execute(&mut *tx)
                .await?;
        }
        flag_version = Some(view.version);
        changed = Changed::environment(&plan.project, &plan.environment);
    }
    for action in &effect.actions {
        audit::append(
            &mut tx,
            actor,
            Change {
                action,
                project: Some(&plan.project),
                environment: Some(&plan.environment),
                target: plan.target(),
                before: Some(json!({
                    "plan": plan.id,
                    "status": plan.progress.status,
                    "step": step_of(&plan.progress),
                })),
                after: Some(json!({
                    "plan": plan.id,
                    "flag": plan.flag,
                    "status": p.status,
                    "step": step_of(p),
                    "flag_version": flag_version,
                    "reason": p.reason,
                    "last_check": p.last_check,
                })),
            },
        )
        .await?;
    }
    let moved = fetch(&mut tx, &plan.id).await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(moved, changed))
}

fn step_of(progress: &Progress) -> Option<i64> {
    (progress.current_step >= 0).then_some(progress.current_step)
}

/// The flag write of a transition, through the flag-state API's write path.
async fn write_flag(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    plan: &Plan,
    write: FlagWrite,
) -> StoreResult<(StateView, FlagState)> {
    let (comment, action) = match write {
        FlagWrite::Step(n) => {
            let change = plan
                .spec
                .steps
                .get(n)
                .map(|s| s.change.describe())
                .unwrap_or_default();
            (
                format!("release plan {}: step {} ({change})", plan.id, n + 1),
                "flag.release_plan.step",
            )
        }
        FlagWrite::Restore => (
            format!(
                "release plan {}: back to the state before the plan",
                plan.id
            ),
            "flag.release_plan.rollback",
        ),
        FlagWrite::Kill => (
            format!("release plan {}: killed", plan.id),
            "flag.release_plan.kill",
        ),
    };
    let pre_plan = plan.pre_plan_state.clone();
    let (committed, before) = flag_states::change_in(
        tx,
        actor,
        &plan.project,
        &plan.environment,
        &plan.flag,
        WriteIntent {
            expected: None,
            action,
            comment: &comment,
        },
        &|flag, state| match write {
            FlagWrite::Step(n) => {
                let step = plan.spec.steps.get(n).ok_or_else(|| {
                    StoreError::Other(anyhow::anyhow!("release plan has no step {n}"))
                })?;
                step.change
                    .apply(&flag.definition, state, &plan.spec.arms)
                    .map_err(StoreError::Invalid)
            }
            FlagWrite::Restore => Ok(pre_plan.clone().unwrap_or(state)),
            FlagWrite::Kill => StepChange::Enabled(false)
                .apply(&flag.definition, state, &plan.spec.arms)
                .map_err(StoreError::Invalid),
        },
    )
    .await?;
    // The snapshot refresh runs once, for the whole transition (see `transition`).
    Ok((committed.without_follow_up(), before))
}
