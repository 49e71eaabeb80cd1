//! The HTTP error policy, in one place.
//!
//! - Every error response is `application/problem+json` (RFC 9457) with a stable `type`
//!   (`urn:switchboard:problem:<slug>`), a `title`, the `status`, a human `detail`, and, for
//!   validation failures, `errors: [{field, message}]` pointing at each offending field.
//! - What the user reads and what the log keeps are different: a 5xx shows a generic detail and
//!   the request id, while the cause chain goes to the log. A 4xx detail is written for the
//!   caller and must never contain a secret value or a token.
//! - Handlers return `Result<_, ApiError>`; store errors convert with `?`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::StoreError;

pub use crate::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: unreadable JSON, bad query or path parameter.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed but semantically invalid content.
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A path parameter without its shape: nothing by such a name can exist.
    #[error("{detail}")]
    PathNotFound {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A stored secret failed authentication; the detail names it (never its value).
    #[error("{0}")]
    Undecryptable(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database did not confirm a write's commit in time: it may have been applied. Not
    /// "failed": the detail says how to learn the outcome.
    #[error("the outcome of the write is unknown")]
    OutcomeUnknown(#[source] anyhow::Error),
    /// This instance is at a configured capacity; the detail says which. Retry later (or, for
    /// a stream, poll meanwhile).
    #[error("{0}")]
    Overloaded(String),
    /// The caller's token went past its rate limit; `Retry-After` says when to come back.
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A refused OAuth request (the token exchange): RFC 6749 §5.2's `error` code and
    /// `error_description`, carried as extension members of the problem.
    #[error("{description}")]
    OAuth {
        error: &'static str,
        description: String,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Unprocessable {
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    /// Invalid content whose fields are already named from the request's root (`body.steps[0]`),
    /// unlike a store's, which are relative to the body.
    pub fn from_fields(errors: switchboard_core::ValidationErrors) -> Self {
        Self::Unprocessable {
            detail: errors.to_string(),
            errors: errors
                .0
                .into_iter()
                .map(|e| FieldError::new(e.field, e.message))
                .collect(),
        }
    }

    /// Every problem of a request's content at once; the detail lists them.
    pub fn unprocessable(errors: Vec<FieldError>) -> Self {
        Self::Unprocessable {
            detail: errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            errors,
        }
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::BadRequest {
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    /// A path parameter that cannot name anything: the parameter and its shape, not the value.
    pub fn path_not_found(field: impl Into<String>, shape: impl Into<String>) -> Self {
        let error = FieldError::new(field, shape);
        Self::PathNotFound {
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// The stable `type` slug: what logs and spans record of a problem instead of its detail.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Unprocessable { .. } => "validation-failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) | ApiError::PathNotFound { .. } => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Undecryptable(_) => "secret-undecryptable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::OutcomeUnknown(_) => "outcome-unknown",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::OAuth { .. } => "oauth",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The invalid fields, for validation failures.
    pub fn errors(&self) -> &[FieldError] {
        match self {
            ApiError::BadRequest { errors, .. }
            | ApiError::Unprocessable { errors, .. }
            | ApiError::PathNotFound { errors, .. } => errors,
            _ => &[],
        }
    }
}

impl ApiError {
    /// What the caller reads: the error's own words for a 4xx (written for the caller, never
    /// holding a submitted value), a generic sentence for a 5xx whose cause goes to the log.
    /// Every door (problem+json, the console's pages) shows this.
    pub fn shown_detail(&self) -> String {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "An internal error occurred; the request id in the logs has the details.".to_owned()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                "The database is unavailable; nothing was changed; retry shortly.".to_owned()
            }
            ApiError::OutcomeUnknown(cause) => {
                tracing::warn!(error = %cause, "a commit was not confirmed");
                "The database did not confirm the write in time: it may or may not have been \
                 applied. Send it again with the same Idempotency-Key to get its outcome, or \
                 read the resource."
                    .to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict => ApiError::Conflict("already exists".into()),
            StoreError::NotEmpty(detail) | StoreError::Refused(detail) => {
                ApiError::Conflict(detail)
            }
            StoreError::Absent(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Invalid(errors) => ApiError::Unprocessable {
                detail: errors.to_string(),
                errors: errors
                    .0
                    .into_iter()
                    .map(|e| FieldError::new(format!("body.{}", e.field), e.message))
                    .collect(),
            },
            stale @ StoreError::Stale { .. } => ApiError::PreconditionFailed(stale.to_string()),
            broken @ StoreError::Undecryptable { .. } => {
                ApiError::Undecryptable(broken.to_string())
            }
            StoreError::Unavailable(e) => ApiError::Unavailable(e),
            StoreError::OutcomeUnknown(e) => ApiError::OutcomeUnknown(e),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    /// OAuth refusals only (RFC 6749 §5.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of an [`ApiError::Overloaded`] answer: long enough that a crowd of refused
/// clients does not come straight back, short next to how long an SDK keeps a stream.
const OVERLOADED_RETRY_AFTER_SECS: &str = "30";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::PathNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Undecryptable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::OutcomeUnknown(_) | ApiError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OAuth {
                error: "temporarily_unavailable",
                ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::OAuth { .. } => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = self.shown_detail();
        let problem = Problem {
            kind: format!("urn:switchboard:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            errors: self.errors(),
            error: match self {
                ApiError::OAuth { error, .. } => Some(*error),
                _ => None,
            },
            error_description: match self {
                ApiError::OAuth { description, .. } => Some(description.as_str()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"switchboard\""));
            }
            ApiError::Unavailable(_)
            | ApiError::OutcomeUnknown(_)
            | ApiError::OAuth {
                error: "temporarily_unavailable",
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, "2"));
            }
            ApiError::Overloaded(_) => {
                response.insert_header((header::RETRY_AFTER, OVERLOADED_RETRY_AFTER_SECS));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}
