//! What a `*_details` call answers: the value and why it was served.
//!
//! [`Reason`] is the core's (OpenFeature's vocabulary). [`ErrorCode`] is the core's plus
//! [`ErrorCode::ProviderNotReady`]: the evaluator always has a snapshot to look at, but a client
//! may not have one yet, and that case needs its own code so that callers (and the OpenFeature
//! provider) can tell "not started" from "no such flag".

use std::fmt;

use serde::{Deserialize, Serialize};
use switchboard_core::Reason;

/// Why an evaluation fell back to the caller's default, in OpenFeature's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The client has no snapshot yet: the server has not answered and there was neither a
    /// bootstrap file nor a persisted snapshot.
    ProviderNotReady,
    /// No flag with this key in the snapshot.
    FlagNotFound,
    /// The flag has another type than the getter's, or its value does not fit it.
    TypeMismatch,
    /// A split was reached but the context has no value for its stickiness attribute. The
    /// flag's off variant is served (never a random bucket).
    TargetingKeyMissing,
    /// The flag's configuration holds a value that does not parse.
    ParseError,
    /// The flag's configuration is inconsistent, or any other failure.
    General,
}

impl ErrorCode {
    /// The wire name, e.g. `"PROVIDER_NOT_READY"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ProviderNotReady => "PROVIDER_NOT_READY",
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::General => "GENERAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<switchboard_core::ErrorCode> for ErrorCode {
    fn from(code: switchboard_core::ErrorCode) -> Self {
        use switchboard_core::ErrorCode as Core;
        match code {
            Core::FlagNotFound => ErrorCode::FlagNotFound,
            Core::TypeMismatch => ErrorCode::TypeMismatch,
            Core::TargetingKeyMissing => ErrorCode::TargetingKeyMissing,
            Core::ParseError => ErrorCode::ParseError,
            Core::General => ErrorCode::General,
        }
    }
}

/// An owned evaluation result: the value served (or the caller's default) and why.
///
/// Owned so that it outlives the snapshot it came from; [`crate::View`] offers the borrowed,
/// allocation-free form.
#[derive(Debug, Clone, PartialEq)]
pub struct Details<T> {
    /// The served value, or the caller's default when `error_code` says so or the flag is
    /// killed on this client.
    pub value: T,
    /// The served variant's key; `None` whenever the caller's default was returned.
    pub variant: Option<String>,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    /// Detail for errors, e.g. why a flag failed to compile.
    pub error_message: Option<String>,
}

impl<T> Details<T> {
    /// The caller's default because the flag is killed on this client.
    pub(crate) fn killed(default: T) -> Self {
        Self {
            value: default,
            variant: None,
            reason: Reason::Disabled,
            error_code: None,
            error_message: None,
        }
    }

    /// The caller's default because there is no snapshot to evaluate.
    pub(crate) fn not_ready(default: T) -> Self {
        Self {
            value: default,
            variant: None,
            reason: Reason::Error,
            error_code: Some(ErrorCode::ProviderNotReady),
            error_message: Some("no snapshot yet: the server has not answered".to_owned()),
        }
    }

    /// Copies a borrowed core answer, converting the value with `own`.
    pub(crate) fn from_core<U>(
        details: switchboard_core::Details<'_, U>,
        own: impl FnOnce(U) -> T,
    ) -> Self {
        Self {
            value: own(details.value),
            variant: details.variant.map(str::to_owned),
            reason: details.reason,
            error_code: details.error_code.map(ErrorCode::from),
            error_message: details.error_message.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_keeps_its_wire_name() {
        use switchboard_core::ErrorCode as Core;
        for code in [
            Core::FlagNotFound,
            Core::TypeMismatch,
            Core::TargetingKeyMissing,
            Core::ParseError,
            Core::General,
        ] {
            assert_eq!(ErrorCode::from(code).as_str(), code.as_str());
        }
        assert_eq!(
            serde_json::to_value(ErrorCode::ProviderNotReady).ok(),
            Some(serde_json::json!("PROVIDER_NOT_READY"))
        );
    }
}
