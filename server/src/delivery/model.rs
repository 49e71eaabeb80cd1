//! The shapes of release plans and scheduled changes: parsed once from the request body into
//! types that cannot hold an invalid plan (a step without a change, a negative hold, a guard
//! without a query), and stored as the normalized body they were parsed from, so that a stored
//! plan is read back through the same parser.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_core::{
    BasisPoints, FieldError, FlagDefinition, FlagState, FlagType, ValidationErrors,
};

/// The longest hold a step may ask for (30 days).
const MAX_HOLD_SECONDS: f64 = 30.0 * 24.0 * 3600.0;
const MAX_STEPS: usize = 50;
const MAX_GUARDS: usize = 10;
const MAX_TEXT: usize = 2_000;

fn invalid(field: impl Into<String>, message: &str) -> ValidationErrors {
    ValidationErrors(vec![FieldError::new(field, message)])
}

/// What a step or a scheduled change does to the flag's state in the environment.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Serve the plan's variant to this share of callers (sticky, so widening only adds
    /// callers) and the other variant to the rest, as the default serve; turns the flag on.
    Share(BasisPoints),
    /// Turn the flag on or off; nothing else changes.
    Enabled(bool),
    /// Replace the state with this one.
    State(Box<FlagState>),
}

/// A change as the API writes it: exactly one of `percentage`, `enabled` or `state` (the
/// fields of a step or a scheduled change); `field` names where it sits for the error.
pub fn parse_change(
    percentage: Option<f64>,
    enabled: Option<bool>,
    state: Option<&FlagState>,
    field: &str,
) -> Result<Change, ValidationErrors> {
    match (percentage, enabled, state) {
        (Some(percent), None, None) => BasisPoints::from_percent(percent)
            .map(Change::Share)
            .map_err(|_| {
                invalid(
                    format!("{field}.percentage"),
                    "must be 0 to 100 in steps of 0.01",
                )
            }),
        (None, Some(enabled), None) => Ok(Change::Enabled(enabled)),
        (None, None, Some(state)) => Ok(Change::State(Box::new(state.clone()))),
        _ => Err(invalid(
            field,
            "give exactly one of percentage, enabled or state",
        )),
    }
}

/// The variants a percentage step serves: `variant` to the share, `otherwise` to the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Arms {
    pub variant: Option<String>,
    pub otherwise: Option<String>,
}

impl Change {
    /// The state after this change, from `state`. Percentages on a non-boolean flag need the
    /// plan's variants; the caller validates the result against the definition.
    pub fn apply(
        &self,
        flag: &FlagDefinition,
        mut state: FlagState,
        arms: &Arms,
    ) -> Result<FlagState, ValidationErrors> {
        match self {
            Change::Share(share) => {
                let boolean = flag.flag_type == FlagType::Boolean;
                let pick = |given: &Option<String>, default: &str, field: &str| match given {
                    Some(v) => Ok(v.clone()),
                    None if boolean => Ok(default.to_owned()),
                    None => Err(invalid(field, "is required for a non-boolean flag")),
                };
                let on = pick(&arms.variant, "on", "variant")?;
                let off = pick(&arms.otherwise, "off", "otherwise")?;
                state.default_serve = state.default_serve.rolled_out(&on, &off, *share);
                state.enabled = true;
                Ok(state)
            }
            Change::Enabled(enabled) => {
                state.enabled = *enabled;
                Ok(state)
            }
            Change::State(new) => Ok((**new).clone()),
        }
    }

    /// One line for the history comment and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Change::Share(share) => {
                format!("{}.{:02} %", share.get() / 100, share.get() % 100)
            }
            Change::Enabled(true) => "enable".into(),
            Change::Enabled(false) => "disable".into(),
            Change::State(_) => "a full state".into(),
        }
    }
}

/// One step of a plan as the API writes it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub percentage: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub enabled: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub state: Option<FlagState>,
    /// How long the step is held (and watched) before the next one; 0 for the last step
    /// completes the plan once its guards pass.
    #[serde(default)]
    pub hold_seconds: f64,
}

/// A step, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub change: Change,
    pub hold: Duration,
}

/// How a guard compares what it observed with its threshold: the guard fails when
/// `observed <fail_when> threshold` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "==")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => observed > threshold,
            Comparison::AtLeast => observed >= threshold,
            Comparison::Below => observed < threshold,
            Comparison::AtMost => observed <= threshold,
            Comparison::Equal => observed == threshold,
            Comparison::NotEqual => observed != threshold,
        }
    }
}

/// A Prometheus instant query and when its value means failure.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusCheck {
    pub query: String,
    pub fail_when: Comparison,
    pub threshold: f64,
}

/// A URL answering 2xx for pass and anything else for fail.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
}

/// A guard as the API writes it: a name and exactly one kind of check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuardBody {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub prometheus: Option<PrometheusCheck>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub http: Option<HttpCheck>,
}

/// A guard, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Guard {
    pub name: String,
    pub check: Check,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Prometheus(PrometheusCheck),
    Http(reqwest::Url),
}

/// What a plan does when its guards fail `failure_threshold` times in a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Return the flag to the state it had before the plan started.
    #[default]
    Rollback,
    /// Turn the flag off in the environment (its kill switch).
    Kill,
}

/// A plan as the API writes it (and as it is stored, defaults filled in).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    pub steps: Vec<StepBody>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub variant: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub otherwise: Option<String>,
    #[serde(default)]
    pub guards: Vec<GuardBody>,
    #[serde(default)]
    pub on_failure: OnFailure,
    #[serde(default = "one", deserialize_with = "whole_number")]
    pub failure_threshold: u32,
    /// Start at once instead of waiting for `…/start` (not stored).
    #[serde(default, skip_serializing)]
    pub start: bool,
}

fn one() -> u32 {
    1
}

/// An optional field that may be left out but not sent as `null` (the spec does not allow it).
fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A whole number, also when written as `3.0` (JSON Schema's `integer` allows that).
fn whole_number<'de, D>(deserializer: D) -> Result<u32, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let number = f64::deserialize(deserializer)?;
    if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number) {
        // Whole and in range, so the cast is exact.
        Ok(number as u32)
    } else {
        Err(serde::de::Error::custom("expected a whole number"))
    }
}

/// A plan, parsed; [`PlanSpec::body`] is what is stored and shown.
#[derive(Clone, Debug)]
pub struct PlanSpec {
    pub steps: Vec<Step>,
    pub arms: Arms,
    pub guards: Vec<Guard>,
    pub on_failure: OnFailure,
    pub failure_threshold: u32,
    body: PlanBody,
}

/// Where HTTP checks may point (`guard_http_allowed_prefixes`): a plan author must not be able
/// to make the server probe arbitrary internal addresses.
pub trait UrlPolicy {
    fn allows(&self, url: &reqwest::Url) -> bool;
    /// Whether a Prometheus endpoint is configured at all.
    fn has_prometheus(&self) -> bool;
}

impl PlanSpec {
    /// Parses `body`; every problem names its field (`body.steps[1].hold_seconds`), never the
    /// value.
    pub fn parse(body: PlanBody, policy: &impl UrlPolicy) -> Result<Self, ValidationErrors> {
        if body.steps.is_empty() || body.steps.len() > MAX_STEPS {
            return Err(invalid("body.steps", "must hold 1 to 50 steps"));
        }
        let steps = body
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let field = format!("body.steps[{i}]");
                let change =
                    parse_change(step.percentage, step.enabled, step.state.as_ref(), &field)?;
                if !(0.0..=MAX_HOLD_SECONDS).contains(&step.hold_seconds) {
                    return Err(invalid(
                        format!("{field}.hold_seconds"),
                        "must be 0 to 2592000 (30 days)",
                    ));
                }
                Ok(Step {
                    change,
                    hold: Duration::from_secs_f64(step.hold_seconds),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if body.guards.len() > MAX_GUARDS {
            return Err(invalid("body.guards", "must hold at most 10 guards"));
        }
        let guards = body
            .guards
            .iter()
            .enumerate()
            .map(|(i, guard)| parse_guard(i, guard, policy))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names: Vec<&str> = guards.iter().map(|g| g.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("body.guards", "guard names must be unique"));
        }
        if !(1..=100).contains(&body.failure_threshold) {
            return Err(invalid("body.failure_threshold", "must be 1 to 100"));
        }
        for (field, value) in [
            ("body.variant", &body.variant),
            ("body.otherwise", &body.otherwise),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.chars().count() > 128)
            {
                return Err(invalid(field, "must be a variant key of the flag"));
            }
        }
        Ok(Self {
            steps,
            arms: Arms {
                variant: body.variant.clone(),
                otherwise: body.otherwise.clone(),
            },
            guards,
            on_failure: body.on_failure,
            failure_threshold: body.failure_threshold,
            body,
        })
    }

    pub fn body(&self) -> &PlanBody {
        &self.body
    }
}

fn parse_guard(
    i: usize,
    guard: &GuardBody,
    policy: &impl UrlPolicy,
) -> Result<Guard, ValidationErrors> {
    let field = format!("body.guards[{i}]");
    let name_ok = !guard.name.is_empty()
        && guard.name.len() <= 64
        && guard
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(invalid(
            format!("{field}.name"),
            "must be 1-64 letters, digits, '-', '_' or '.'",
        ));
    }
    let check = match (&guard.prometheus, &guard.http) {
        (Some(prometheus), None) => {
            if !policy.has_prometheus() {
                return Err(invalid(
                    format!("{field}.prometheus"),
                    "no Prometheus endpoint is configured (SWITCHBOARD_PROMETHEUS_URL)",
                ));
            }
            if prometheus.query.trim().is_empty() || prometheus.query.chars().count() > MAX_TEXT {
                return Err(invalid(
                    format!("{field}.prometheus.query"),
                    "must be a PromQL expression of 1-2000 characters",
                ));
            }
            if !prometheus.threshold.is_finite() {
                return Err(invalid(
                    format!("{field}.prometheus.threshold"),
                    "must be a finite number",
                ));
            }
            Check::Prometheus(prometheus.clone())
        }
        (None, Some(http)) => {
            let url_field = format!("{field}.http.url");
            let url = reqwest::Url::parse(&http.url)
                .ok()
                .filter(|u| {
                    matches!(u.scheme(), "http" | "https") && http.url.chars().count() <= MAX_TEXT
                })
                .ok_or_else(|| invalid(&url_field, "must be an http or https URL"))?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(invalid(
                    &url_field,
                    "must not carry credentials (they would be shown with the plan)",
                ));
            }
            if !policy.allows(&url) {
                return Err(invalid(
                    &url_field,
                    "is not under a prefix of SWITCHBOARD_GUARD_HTTP_ALLOWED_PREFIXES",
                ));
            }
            Check::Http(url)
        }
        _ => {
            return Err(invalid(field, "give exactly one of prometheus or http"));
        }
    };
    Ok(Guard {
        name: guard.name.clone(),
        check,
    })
}

/// Where a plan is in its life. `pending`, `running` and `paused` are active: at most one
/// active plan per flag and environment (a unique index says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Pending,
    Running,
    Paused,
    Completed,
    Aborted,
    RolledBack,
    Killed,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Pending => "pending",
            PlanStatus::Running => "running",
            PlanStatus::Paused => "paused",
            PlanStatus::Completed => "completed",
            PlanStatus::Aborted => "aborted",
            PlanStatus::RolledBack => "rolled_back",
            PlanStatus::Killed => "killed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            PlanStatus::Pending,
            PlanStatus::Running,
            PlanStatus::Paused,
            PlanStatus::Completed,
            PlanStatus::Aborted,
            PlanStatus::RolledBack,
            PlanStatus::Killed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_active(self) -> bool {
        matches!(
            self,
            PlanStatus::Pending | PlanStatus::Running | PlanStatus::Paused
        )
    }
}

/// A scheduled change as the API writes it (and as it is stored).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// When, as RFC 3339 (`2026-12-24T00:00:00Z`).
    pub at: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub percentage: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub enabled: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub state: Option<FlagState>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub variant: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub otherwise: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// A scheduled change, parsed.
#[derive(Clone, Debug)]
pub struct ScheduleSpec {
    /// Microseconds since the epoch.
    pub due_at: i64,
    pub change: Change,
    pub arms: Arms,
    body: ScheduleBody,
}

impl ScheduleSpec {
    /// Parses `body`; `now` (microseconds) refuses a time already past, which would apply at
    /// once and surprise whoever meant tomorrow.
    pub fn parse(body: ScheduleBody, now: Option<i64>) -> Result<Self, ValidationErrors> {
        let at =
            time::OffsetDateTime::parse(&body.at, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                invalid(
                    "body.at",
                    "must be an RFC 3339 time such as 2026-12-24T00:00:00Z",
                )
            })?;
        let due_at = i64::try_from(at.unix_timestamp_nanos() / 1_000)
            .map_err(|_| invalid("body.at", "is out of range"))?;
        if now.is_some_and(|now| due_at < now - 5_000_000) {
            return Err(invalid("body.at", "must not be in the past"));
        }
        let change = parse_change(body.percentage, body.enabled, body.state.as_ref(), "body")?;
        if body.comment.chars().count() > 1_000 {
            return Err(invalid("body.comment", "must be at most 1000 characters"));
        }
        Ok(Self {
            due_at,
            change,
            arms: Arms {
                variant: body.variant.clone(),
                otherwise: body.otherwise.clone(),
            },
            body,
        })
    }

    pub fn body(&self) -> &ScheduleBody {
        &self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Open;
    impl UrlPolicy for Open {
        fn allows(&self, _: &reqwest::Url) -> bool {
            true
        }
        fn has_prometheus(&self) -> bool {
            true
        }
    }

    fn body(value: serde_json::Value) -> PlanBody {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_plan_parses_its_steps_and_guards() {
        let spec = PlanSpec::parse(
            body(serde_json::json!({
                "steps": [{"percentage": 1, "hold_seconds": 600}, {"percentage": 100}],
                "guards": [{"name": "errors", "prometheus": {"query": "x", "fail_when": ">", "threshold": 0.02}}],
            })),
            &Open,
        )
        .unwrap();
        assert_eq!(spec.steps.len(), 2);
        assert_eq!(spec.steps[0].hold, Duration::from_secs(600));
        assert_eq!(spec.failure_threshold, 1);
        assert_eq!(spec.on_failure, OnFailure::Rollback);
    }

    #[test]
    fn problems_name_their_field_and_never_the_value() {
        let error = PlanSpec::parse(
            body(serde_json::json!({"steps": [{"percentage": 1, "enabled": true}]})),
            &Open,
        )
        .unwrap_err();
        assert_eq!(error.0[0].field, "body.steps[0]");
        let error = PlanSpec::parse(
            body(serde_json::json!({"steps": [{"percentage": 5}],
                "guards": [{"name": "g", "http": {"url": "https://user:hunter2@example.com/"}}]})),
            &Open,
        )
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn comparisons_say_when_a_guard_fails() {
        assert!(Comparison::Above.holds(0.05, 0.02));
        assert!(!Comparison::Above.holds(0.02, 0.02));
        assert!(Comparison::AtMost.holds(0.02, 0.02));
    }
}
