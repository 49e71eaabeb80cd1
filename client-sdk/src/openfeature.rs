//! An [OpenFeature](https://openfeature.dev) provider (cargo feature `openfeature`), so that code
//! written against the `open-feature` crate can use Switchboard.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use open_feature::{EvaluationContext, OpenFeature};
//! use switchboard_client::Client;
//! use switchboard_client::openfeature::SwitchboardProvider;
//!
//! let client = Client::builder("http://127.0.0.1:8080", "<sdk token>").build()?;
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_provider(SwitchboardProvider::new(client)).await; // waits up to 5 s for the server
//! let flags = api.create_client();
//! drop(api);
//!
//! let ctx = EvaluationContext::default().with_targeting_key("user-42");
//! let on = flags.get_bool_value("new-checkout", Some(&ctx), None).await.unwrap_or(false);
//! # Ok(()) }
//! ```
//!
//! # Mapping
//!
//! - Reasons map one to one (`STATIC`, `TARGETING_MATCH`, `SPLIT`, `DISABLED`, `DEFAULT`).
//! - Every error is returned as an OpenFeature error, so the OpenFeature client answers the
//!   caller's default, as the specification requires: `FLAG_NOT_FOUND`, `TYPE_MISMATCH`,
//!   `PARSE_ERROR`, `PROVIDER_NOT_READY` (no snapshot yet) and `GENERAL` keep their codes. Two
//!   cases differ from the native API:
//!   - `TARGETING_KEY_MISSING`: the native getters serve the flag's off variant; here the
//!     caller's default applies (OpenFeature has no "error with a value").
//!   - a flag killed on this client: the native getters answer the default with reason
//!     `DISABLED`; a provider never sees the caller's default, so it returns the error
//!     `GENERAL("KILLED")`, which yields that default.
//! - Context: the targeting key is the targeting key; booleans, integers, floats and strings
//!   become attributes as they are, date-times become RFC 3339 strings (which the `before` /
//!   `after` operators read), and a struct field is used if it holds a `serde_json::Value`
//!   (otherwise it is skipped: the evaluator cannot look inside an arbitrary type).
//! - `resolve_int_value` asks for an integer (a served number with a fraction is a
//!   `TYPE_MISMATCH`), `resolve_float_value` for any number, `resolve_struct_value` for a `json`
//!   flag whose value is an object.
//! - Status: `READY` once the server has answered and the last refresh succeeded; `STALE` while
//!   serving a snapshot the server has not confirmed or could not refresh; `ERROR` when there is
//!   no snapshot and the server refuses the token or the environment; `NOT_READY` otherwise.

use std::time::Duration;

use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode,
    EvaluationReason, EvaluationResult, StructValue, Value as OfValue,
};
use serde_json::Value;
use switchboard_core::{Context, Reason};

use crate::client::Client;
use crate::details::{Details, ErrorCode};

/// How long [`FeatureProvider::initialize`] waits for the server by default.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`FeatureProvider`] evaluating through a [`Client`].
#[derive(Debug)]
pub struct SwitchboardProvider {
    client: Client,
    metadata: ProviderMetadata,
    init_timeout: Duration,
}

impl SwitchboardProvider {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            metadata: ProviderMetadata::new("switchboard"),
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// How long `initialize` (run by `OpenFeature::set_provider`) waits for the server.
    #[must_use]
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// The client behind the provider (for the kill switch, listeners, config).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Kill switch first (the provider never sees the caller's default, so a kill must be an
    /// error), then the client's own evaluation.
    fn resolve<T>(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
        details: impl FnOnce(&Client, &Context) -> Details<T>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        if self.client.is_killed(flag_key) {
            return Err(EvaluationError {
                code: EvaluationErrorCode::General("KILLED".to_owned()),
                message: Some("killed on this client; the caller's default applies".to_owned()),
            });
        }
        into_resolution(details(&self.client, &context(evaluation_context)))
    }
}

#[open_feature::async_trait]
impl FeatureProvider for SwitchboardProvider {
    async fn initialize(&mut self, _context: &EvaluationContext) {
        if let Err(not_ready) = self.client.wait_ready(self.init_timeout).await {
            tracing::warn!(%not_ready, "Switchboard: OpenFeature provider starts without the server");
        }
    }

    fn status(&self) -> ProviderStatus {
        let status = self.client.status();
        match (
            status.has_snapshot(),
            status.synced && status.last_error.is_none(),
        ) {
            (true, true) => ProviderStatus::Ready,
            (true, false) => ProviderStatus::STALE,
            (false, _)
                if status
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.needs_attention()) =>
            {
                ProviderStatus::Error
            }
            (false, _) => ProviderStatus::NotReady,
        }
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(flag_key, evaluation_context, |c, ctx| {
            c.bool_details(flag_key, ctx, false)
        })
    }

    async fn resolve_int_value(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(flag_key, evaluation_context, |c, ctx| {
            c.integer_details(flag_key, ctx, 0)
        })
    }

    async fn resolve_float_value(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(flag_key, evaluation_context, |c, ctx| {
            c.number_details(flag_key, ctx, 0.0)
        })
    }

    async fn resolve_string_value(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(flag_key, evaluation_context, |c, ctx| {
            c.string_details(flag_key, ctx, "")
        })
    }

    async fn resolve_struct_value(
        &self,
        flag_key: &str,
        evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        let details = self.resolve(flag_key, evaluation_context, |c, ctx| {
            c.json_details(flag_key, ctx, &Value::Null)
        })?;
        match of_value(&details.value) {
            OfValue::Struct(value) => Ok(ResolutionDetails {
                value,
                variant: details.variant,
                reason: details.reason,
                flag_metadata: details.flag_metadata,
            }),
            _ => Err(EvaluationError {
                code: EvaluationErrorCode::TypeMismatch,
                message: Some("the flag's value is not a JSON object".to_owned()),
            }),
        }
    }
}

fn into_resolution<T>(details: Details<T>) -> EvaluationResult<ResolutionDetails<T>> {
    if let Some(code) = details.error_code {
        return Err(EvaluationError {
            code: error_code(code),
            message: details.error_message,
        });
    }
    Ok(ResolutionDetails {
        value: details.value,
        variant: details.variant,
        reason: Some(reason(details.reason)),
        flag_metadata: None,
    })
}

fn reason(reason: Reason) -> EvaluationReason {
    match reason {
        Reason::Static => EvaluationReason::Static,
        Reason::TargetingMatch => EvaluationReason::TargetingMatch,
        Reason::Split => EvaluationReason::Split,
        Reason::Disabled => EvaluationReason::Disabled,
        Reason::Default => EvaluationReason::Default,
        Reason::Error => EvaluationReason::Error,
    }
}

fn error_code(code: ErrorCode) -> EvaluationErrorCode {
    match code {
        ErrorCode::ProviderNotReady => EvaluationErrorCode::ProviderNotReady,
        ErrorCode::FlagNotFound => EvaluationErrorCode::FlagNotFound,
        ErrorCode::TypeMismatch => EvaluationErrorCode::TypeMismatch,
        ErrorCode::TargetingKeyMissing => EvaluationErrorCode::TargetingKeyMissing,
        ErrorCode::ParseError => EvaluationErrorCode::ParseError,
        ErrorCode::General => EvaluationErrorCode::General("GENERAL".to_owned()),
    }
}

/// The OpenFeature context as a Switchboard context (see "Mapping" above).
fn context(of: &EvaluationContext) -> Context {
    let mut ctx = Context::new();
    ctx.set_targeting_key(of.targeting_key.clone());
    for (name, field) in &of.custom_fields {
        let value = match field {
            EvaluationContextFieldValue::Bool(b) => Value::from(*b),
            EvaluationContextFieldValue::Int(i) => Value::from(*i),
            EvaluationContextFieldValue::Float(f) => Value::from(*f),
            EvaluationContextFieldValue::String(s) => Value::from(s.as_str()),
            EvaluationContextFieldValue::DateTime(t) => {
                match t.format(&time::format_description::well_known::Rfc3339) {
                    Ok(text) => Value::from(text),
                    Err(_) => continue,
                }
            }
            EvaluationContextFieldValue::Struct(any) => match any.downcast_ref::<Value>() {
                Some(json) => json.clone(),
                None => continue,
            },
        };
        ctx.set(name.as_str(), value);
    }
    ctx
}

/// JSON as an OpenFeature value. Integers that fit an `i64` stay integers, other numbers become
/// floats. OpenFeature has no `null`: object fields holding one are left out.
fn of_value(json: &Value) -> OfValue {
    match json {
        Value::Bool(b) => OfValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OfValue::Int(i),
            None => OfValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => OfValue::String(s.clone()),
        Value::Array(items) => OfValue::Array(items.iter().map(of_value).collect()),
        Value::Object(fields) => OfValue::Struct(StructValue {
            fields: fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), of_value(v)))
                .collect(),
        }),
        // Only reachable for a top-level null or inside an array: no OpenFeature equivalent.
        Value::Null => OfValue::Struct(StructValue::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_objects_become_structs_and_nulls_are_dropped() {
        let value = of_value(&json!({"limit": 3, "ratio": 0.5, "tags": ["a"], "gone": null}));
        let OfValue::Struct(fields) = value else {
            panic!("not a struct: {value:?}");
        };
        assert_eq!(fields.fields.len(), 3);
        assert_eq!(fields.fields.get("limit"), Some(&OfValue::Int(3)));
        assert_eq!(fields.fields.get("ratio"), Some(&OfValue::Float(0.5)));
    }

    #[test]
    fn context_fields_keep_their_types_and_dates_become_rfc3339() {
        let of = EvaluationContext::default()
            .with_targeting_key("user-1")
            .with_custom_field("plan", "pro")
            .with_custom_field("age", 30)
            .with_custom_field("beta", true)
            .with_custom_field(
                "signed_up",
                EvaluationContextFieldValue::DateTime(
                    time::macros::datetime!(2024-05-01 10:00 UTC),
                ),
            )
            .with_custom_field("opaque", EvaluationContextFieldValue::new_struct(42u8));
        let ctx = context(&of);
        assert_eq!(ctx.targeting_key(), Some("user-1"));
        assert_eq!(ctx.attributes().get("age"), Some(&json!(30)));
        assert_eq!(
            ctx.attributes().get("signed_up"),
            Some(&json!("2024-05-01T10:00:00Z"))
        );
        assert!(!ctx.attributes().contains_key("opaque"));
    }
}
