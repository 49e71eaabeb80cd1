//! What an evaluation returns: the borrowed [`Evaluation`], the typed [`Details`], and the owned,
//! serializable [`EvaluationDetail`] for HTTP answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a value was served, in OpenFeature's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The flag has no rules and serves a fixed variant: everyone gets the same value.
    Static,
    /// A rule matched and served a fixed variant.
    TargetingMatch,
    /// A split chose the variant from the caller's bucket (whether the split belongs to a
    /// matching rule or to the default serve).
    Split,
    /// The flag is disabled: the off variant.
    Disabled,
    /// The flag has rules, none matched, and the default serve is a fixed variant.
    Default,
    /// Something went wrong; see the [`ErrorCode`].
    Error,
}

impl Reason {
    /// The wire name, e.g. `"TARGETING_MATCH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Disabled => "DISABLED",
            Reason::Default => "DEFAULT",
            Reason::Error => "ERROR",
        }
    }
}

/// Why an evaluation is an error, in OpenFeature's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No flag with this key in the snapshot.
    FlagNotFound,
    /// A typed accessor asked for another type than the flag's.
    TypeMismatch,
    /// A split was reached but the context has no usable stickiness value. The off variant is
    /// served (never a random bucket).
    TargetingKeyMissing,
    /// The flag's configuration holds a value that does not parse (a date, a version, a number,
    /// a variant value of the wrong type).
    ParseError,
    /// The flag's configuration is inconsistent (unknown variant or segment, weights that do not
    /// add up to 10000, …), or any other failure.
    General,
}

impl ErrorCode {
    /// The wire name, e.g. `"FLAG_NOT_FOUND"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::General => "GENERAL",
        }
    }
}

/// The outcome of evaluating one flag, borrowing from the compiled snapshot.
///
/// `value` and `variant` are present whenever a variant was served, which includes
/// `TARGETING_KEY_MISSING` (the off variant). They are absent for the other errors, where the
/// caller's default applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation<'a> {
    pub value: Option<&'a Value>,
    pub variant: Option<&'a str>,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    /// Detail for errors, e.g. the compile problem of a broken flag.
    pub error_message: Option<&'a str>,
}

impl<'a> Evaluation<'a> {
    pub(crate) fn served(variant: &'a str, value: &'a Value, reason: Reason) -> Self {
        Self {
            value: Some(value),
            variant: Some(variant),
            reason,
            error_code: None,
            error_message: None,
        }
    }

    pub(crate) fn error(code: ErrorCode, message: &'a str) -> Self {
        Self {
            value: None,
            variant: None,
            reason: Reason::Error,
            error_code: Some(code),
            error_message: Some(message),
        }
    }

    /// What an unknown key evaluates to. Also what a server answers for a flag the caller may
    /// not see, so that hidden and missing look the same.
    pub fn flag_not_found() -> Evaluation<'static> {
        Evaluation::error(ErrorCode::FlagNotFound, "no flag with this key")
    }

    /// An owned copy for an HTTP answer.
    pub fn to_detail(&self, key: &str) -> EvaluationDetail {
        EvaluationDetail {
            key: key.to_owned(),
            value: self.value.cloned(),
            variant: self.variant.map(str::to_owned),
            reason: self.reason,
            error_code: self.error_code,
            error_message: self.error_message.map(str::to_owned),
        }
    }
}

/// A typed evaluation: `value` is the served value, or the caller's default on error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Details<'a, T> {
    pub value: T,
    pub variant: Option<&'a str>,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<&'a str>,
}

/// An owned, serializable evaluation result, as answered by `POST /v1/evaluate`:
/// `{"key": "new-checkout", "value": true, "variant": "on", "reason": "SPLIT"}`, plus
/// `error_code` and `error_message` on errors (`value` and `variant` are then `null` unless a
/// variant was served).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationDetail {
    pub key: String,
    pub value: Option<Value>,
    pub variant: Option<String>,
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl EvaluationDetail {
    /// An error result built outside the evaluator, e.g. by a server that could not load the
    /// environment (`GENERAL`).
    pub fn error(key: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: None,
            variant: None,
            reason: Reason::Error,
            error_code: Some(code),
            error_message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_and_codes_serialize_upper_snake() {
        for reason in [
            Reason::Static,
            Reason::TargetingMatch,
            Reason::Split,
            Reason::Disabled,
            Reason::Default,
            Reason::Error,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                json!(reason.as_str())
            );
        }
        for code in [
            ErrorCode::FlagNotFound,
            ErrorCode::TypeMismatch,
            ErrorCode::TargetingKeyMissing,
            ErrorCode::ParseError,
            ErrorCode::General,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    #[test]
    fn an_error_detail_has_null_value_and_variant() {
        let detail = EvaluationDetail::error("f", ErrorCode::General, "store unavailable");
        assert_eq!(
            serde_json::to_value(&detail).unwrap(),
            json!({"key": "f", "value": null, "variant": null, "reason": "ERROR",
                   "error_code": "GENERAL", "error_message": "store unavailable"})
        );
    }
}
