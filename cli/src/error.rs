//! What can go wrong in a remote command, and the exit code each failure gets.
//!
//! Pipelines branch on the exit code, so the codes are part of the interface (the README lists
//! them): 1 a local failure (a file could not be read or written), 2 usage (bad arguments,
//! nothing says where the server is, a variable `run` would override), 3 authentication or
//! authorization (401, 403), 4 any other refusal by the server (404, 409, 412, 422, …),
//! 5 the server failed or could not be reached. `run` exits with its child's status once the
//! child has started.
//!
//! Messages show the server's problem `detail` and each field error; a token or secret value is
//! never part of one (the server's details never contain them, and neither do ours).

use std::fmt;
use std::process::ExitCode;

use reqwest::StatusCode;
use serde::Deserialize;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const AUTH: u8 = 3;
pub const REFUSED: u8 = 4;
pub const SERVER: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line (or the config file) does not say what to do; exit 2.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error status.
    #[error("{0}")]
    Api(ApiFailure),
    /// No answer: connection refused, DNS, TLS, timeout; exit 5.
    #[error("cannot reach {url}: {cause}")]
    Network { url: String, cause: String },
    /// Anything else, with its cause chain; exit 1.
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

/// An error answer, with the problem document when the server sent one.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub problem: Option<Problem>,
}

/// The fields of an `application/problem+json` body the CLI shows.
#[derive(Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn network(url: &reqwest::Url, error: &reqwest::Error) -> Self {
        // The innermost cause says what happened ("Connection refused"); the outer ones only
        // repeat that a request failed.
        let mut cause: &dyn std::error::Error = error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let cause = if error.is_timeout() {
            "the request timed out".to_owned()
        } else {
            cause.to_string()
        };
        Self::Network {
            url: url.origin().ascii_serialization(),
            cause,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => USAGE,
            Error::Api(failure) => match failure.status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AUTH,
                status if status.is_client_error() => REFUSED,
                _ => SERVER,
            },
            Error::Network { .. } => SERVER,
            Error::Local(_) => FAILURE,
        }
    }

    /// Prints the error on stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        match self {
            Error::Local(error) => eprintln!("switchboard: {error:#}"),
            other => eprintln!("switchboard: {other}"),
        }
        ExitCode::from(self.exit_code())
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.status.canonical_reason().unwrap_or("error");
        let status = self.status.as_u16();
        let detail = self
            .problem
            .as_ref()
            .map(|p| p.detail.as_str())
            .filter(|d| !d.is_empty());
        let fields: Vec<&FieldError> = self.problem.iter().flat_map(|p| &p.errors).collect();
        let errors: Vec<String> = fields
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        // The server's detail of a validation failure repeats its field errors (at times
        // without the `body.` of the field): each is shown once, on the first line when it is
        // the only one, as a list otherwise.
        let repeats = |detail: &str| {
            fields.iter().all(|e| {
                let bare = e
                    .field
                    .split_once('.')
                    .filter(|(part, _)| matches!(*part, "body" | "query" | "path" | "header"))
                    .map_or(e.field.as_str(), |(_, rest)| rest);
                detail.contains(&format!("{}: {}", e.field, e.message))
                    || detail.contains(&format!("{bare}: {}", e.message))
            })
        };
        match (detail, errors.as_slice()) {
            (Some(detail), [only]) if repeats(detail) => write!(f, "{status} {reason}: {only}")?,
            (Some(detail), [_, _, ..]) if repeats(detail) => {
                write!(f, "{status} {reason}: {} fields are invalid", errors.len())?;
                for error in &errors {
                    write!(f, "\n  - {error}")?;
                }
            }
            (detail, _) => {
                match detail {
                    Some(detail) => write!(f, "{status} {reason}: {detail}")?,
                    None => write!(f, "the server answered {status} {reason}")?,
                }
                for error in &errors {
                    write!(f, "\n  - {error}")?;
                }
            }
        }
        match self.status {
            StatusCode::UNAUTHORIZED => write!(
                f,
                "\n  hint: check the token (--token, SWITCHBOARD_TOKEN or the profile's); it may be expired or revoked"
            ),
            StatusCode::FORBIDDEN => write!(
                f,
                "\n  hint: the token is valid but lacks the scope, project or environment this needs"
            ),
            StatusCode::PRECONDITION_FAILED => {
                write!(
                    f,
                    "\n  hint: someone else changed it meanwhile; read it again and retry"
                )
            }
            _ => Ok(()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, problem: Option<Problem>) -> Error {
        Error::Api(ApiFailure {
            status: StatusCode::from_u16(status).unwrap(),
            problem,
        })
    }

    #[test]
    fn each_kind_of_failure_has_its_exit_code() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(api(401, None).exit_code(), 3);
        assert_eq!(api(403, None).exit_code(), 3);
        for status in [400, 404, 409, 412, 422] {
            assert_eq!(api(status, None).exit_code(), 4, "{status}");
        }
        assert_eq!(api(500, None).exit_code(), 5);
        assert_eq!(api(503, None).exit_code(), 5);
        assert_eq!(Error::Local(anyhow::anyhow!("disk")).exit_code(), 1);
    }

    #[test]
    fn the_message_shows_the_detail_and_every_field_error_once() {
        let problem = Problem {
            detail: "body.percentage: out of range".into(),
            errors: vec![FieldError {
                field: "body.percentage".into(),
                message: "out of range".into(),
            }],
        };
        let text = api(422, Some(problem)).to_string();
        assert_eq!(
            text,
            "422 Unprocessable Entity: body.percentage: out of range"
        );
        let field = |field: &str| FieldError {
            field: field.into(),
            message: "must be a string".into(),
        };
        let problem = Problem {
            detail: "name: must be a string; description: must be a string".into(),
            errors: vec![field("body.name"), field("body.description")],
        };
        let text = api(422, Some(problem)).to_string();
        assert_eq!(
            text,
            "422 Unprocessable Entity: 2 fields are invalid\n  - body.name: must be a string\n  - \
             body.description: must be a string"
        );
        let problem = Problem {
            detail: "the request does not fit".into(),
            errors: vec![field("body.name")],
        };
        let text = api(400, Some(problem)).to_string();
        assert!(text.contains("does not fit\n  - body.name: must be a string"));
        assert_eq!(
            api(502, None).to_string(),
            "the server answered 502 Bad Gateway"
        );
    }
}
