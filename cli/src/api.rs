//! The server's answers, as the CLI reads them: typed, so a renamed or retyped field fails to
//! parse (and a test) instead of printing an empty cell.
//!
//! Flag definitions and states are `switchboard_core`'s own wire types; the rest are small
//! structs holding only what the CLI shows. Unknown fields are ignored here (the server may
//! add some), and `--output json` never goes through these types: it prints the server's JSON.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_core::{FlagDefinition, FlagState};

use crate::error::{Error, Result};

/// `value` as `T`; a mismatch means the server and this CLI disagree about the API.
pub fn parse<T: DeserializeOwned>(value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| {
        Error::Local(anyhow::anyhow!(
            "the server's answer is not what this CLI expects ({e}); are their versions apart?"
        ))
    })
}

/// One page of a list: its items, and where the next page starts.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A flag's definition as the server answers it (with its version and times, which the CLI
/// does not show).
#[derive(Debug, Deserialize)]
pub struct Flag {
    #[serde(flatten)]
    pub definition: FlagDefinition,
}

/// A flag as `GET /flags` lists it, with the state `flags list` adds when an environment is
/// named.
#[derive(Debug, Deserialize)]
pub struct ListedFlag {
    #[serde(flatten)]
    pub definition: FlagDefinition,
    #[serde(default)]
    pub state: Option<FlagState>,
}

/// A flag's state in one environment.
#[derive(Debug, Deserialize)]
pub struct StateView {
    pub flag: String,
    pub environment: String,
    #[serde(flatten)]
    pub state: FlagState,
    pub version: i64,
    pub killed: bool,
    pub updated_at: Option<String>,
}

/// One entry of a flag's history in an environment.
#[derive(Debug, Deserialize)]
pub struct StateVersion {
    pub version: i64,
    pub state: FlagState,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
}

/// An environment's kill switch.
#[derive(Debug, Deserialize)]
pub struct KillSwitch {
    pub environment: String,
    pub killed: bool,
    pub killed_by: Option<String>,
    pub reason: Option<String>,
}

/// The resolved configuration of an environment.
#[derive(Debug, Deserialize)]
pub struct ResolvedConfig {
    pub entries: Vec<ConfigEntry>,
}

/// One key of the resolved configuration.
#[derive(Debug, Deserialize)]
pub struct ConfigEntry {
    pub key: String,
    pub value: Value,
    pub source: String,
    pub version: i64,
    pub updated_at: String,
}

/// One version of a config key; no value when that version removed it.
#[derive(Debug, Deserialize)]
pub struct ConfigVersion {
    pub version: i64,
    pub value: Option<Value>,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
}

/// What differs between two environments' resolved configuration.
#[derive(Debug, Deserialize)]
pub struct Diff {
    pub added: Vec<DiffEntry>,
    pub removed: Vec<DiffEntry>,
    pub changed: Vec<ChangedEntry>,
}

#[derive(Debug, Deserialize)]
pub struct DiffEntry {
    pub key: String,
    pub value: Value,
}

#[derive(Debug, Deserialize)]
pub struct ChangedEntry {
    pub key: String,
    pub from: Value,
    pub to: Value,
}

/// What a promotion changed (or, dry, would change).
#[derive(Debug, Deserialize)]
pub struct Promotion {
    pub changes: Vec<PlannedChange>,
}

#[derive(Debug, Deserialize)]
pub struct PlannedChange {
    pub key: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A secret's metadata (never its value).
#[derive(Debug, Deserialize)]
pub struct SecretMeta {
    pub name: String,
    pub version: i64,
    pub updated_at: String,
    pub updated_by: String,
}

/// One version of a secret (metadata only).
#[derive(Debug, Deserialize)]
pub struct SecretVersion {
    pub version: i64,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
    pub master_key_id: String,
}

/// A token's record (never the token itself).
#[derive(Debug, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub projects: Vec<String>,
    pub environments: Vec<String>,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// One event of the audit trail.
#[derive(Debug, Deserialize)]
pub struct AuditEvent {
    pub at: String,
    pub actor: AuditActor,
    pub action: String,
    pub target: String,
    pub source_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AuditActor {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Project {
    pub name: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct Environment {
    pub project: String,
    pub name: String,
    pub description: String,
    pub parent: Option<String>,
    pub revision: i64,
}

/// A release plan (what `flags plan` shows of it).
#[derive(Debug, Deserialize)]
pub struct ReleasePlan {
    pub id: String,
    pub flag: String,
    pub environment: String,
    pub status: String,
    pub current_step: Option<i64>,
    pub steps: Vec<PlanStep>,
    pub hold_until: Option<String>,
    pub reason: Option<Value>,
}

/// One step of a release plan.
#[derive(Debug, Deserialize)]
pub struct PlanStep {
    pub percentage: Option<f64>,
    pub enabled: Option<bool>,
    pub hold_seconds: f64,
}

/// A scheduled change (what `flags schedule` shows of it).
#[derive(Debug, Deserialize)]
pub struct ScheduledChange {
    pub id: String,
    pub flag: String,
    pub at: String,
    pub status: String,
    pub comment: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_renamed_field_is_an_error_not_an_empty_cell() {
        let meta = json!({"name": "K", "version": 1, "updated_at": "t", "updated_by": "ci"});
        assert!(parse::<SecretMeta>(&meta).is_ok());
        let renamed = json!({"title": "K", "version": 1, "updated_at": "t", "updated_by": "ci"});
        let error = parse::<SecretMeta>(&renamed).unwrap_err().to_string();
        assert!(error.contains("missing field `name`"), "{error}");
    }

    #[test]
    fn a_flag_answer_reads_as_core_types_beside_fields_it_does_not_show() {
        let flag = json!({"key": "dark", "type": "boolean", "version": 3, "created_at": "t",
            "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}]});
        let flag: Flag = parse(&flag).unwrap();
        assert_eq!(flag.definition, FlagDefinition::boolean("dark"));
    }
}

/// A webhook endpoint; `secret` only in the answers to a creation or a rotation.
#[derive(Debug, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub format: String,
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub secret: Option<String>,
}

/// One delivery of a webhook, with its attempts.
#[derive(Debug, Deserialize)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_type: String,
    pub created_at: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub log: Vec<WebhookAttempt>,
}

#[derive(Debug, Deserialize)]
pub struct WebhookAttempt {
    #[serde(default)]
    pub error: Option<String>,
}
