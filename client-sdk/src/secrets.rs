//! Fetching secrets: an explicit, audited call, never part of the snapshot.
//!
//! Secrets do not travel with flags and config: the snapshot is cached, persisted to disk and
//! shared by every evaluation, while a secret read must be asked for, needs the `secrets:read`
//! scope, and is written to the server's audit log (who, when, from where, which names). So
//! [`crate::Client::fetch_secrets`] and [`crate::Client::fetch_secret`] go to the server each
//! time; the client never caches the result, in memory or on disk.
//!
//! Values arrive in [`SecretValue`], which wipes its memory when dropped and prints `***` in
//! `Debug`. The body of the response is read into a buffer that is wiped too; the copies the
//! HTTP stack makes on the way (socket and TLS buffers) are out of this crate's reach.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{BuildError, chain};
use crate::refresh::http;

/// Largest secrets response accepted.
const MAX_SECRETS_BYTES: usize = 16 * 1024 * 1024;

/// A secret's value. Wiped from memory when dropped; `Debug` prints `***`; there is no
/// `Display`, so it cannot land in a log line by accident: call [`expose`](Self::expose).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// The plaintext. Keep the borrow short; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Every secret of an environment, by name. `Debug` lists the names only.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, SecretValue>);

impl Secrets {
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.0.get(name)
    }

    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretValue)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why a secrets fetch failed. Never contains a secret value or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The client was built with `offline()`.
    #[error("the client is offline: it fetches nothing from the server")]
    Offline,
    /// Neither the builder nor a snapshot says which project and environment to read.
    #[error(
        "which environment's secrets? name the project and environment on the builder, or wait \
         until the client has a snapshot"
    )]
    UnknownEnvironment,
    /// Connection refused, DNS failure, timeout…
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// `401` or `403`: the token is refused, or lacks `secrets:read` for this environment.
    #[error("the server refused the token ({status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    /// `404`: no such secret, project or environment.
    #[error("not found: {0}")]
    NotFound(String),
    /// Any other unexpected status, with the problem's `detail`.
    #[error("the server answered {status}: {detail}")]
    Status { status: u16, detail: String },
    /// The body is not what the server sends. The parser's message is not repeated: it could
    /// quote part of a value.
    #[error("the server's answer is unreadable ({0})")]
    Invalid(String),
}

/// Where the client asks for secrets.
#[derive(Debug)]
pub(crate) struct SecretsEndpoint {
    http: reqwest::Client,
    /// The server's base URL, ending with `/`.
    base: Url,
    authorization: HeaderValue,
    /// From the builder; otherwise the snapshot's.
    project: Option<String>,
    environment: Option<String>,
}

impl SecretsEndpoint {
    pub(crate) fn new(config: &http::EndpointConfig<'_>, token: &str) -> Result<Self, BuildError> {
        let base_only = http::EndpointConfig {
            project: None,
            environment: None,
            ..*config
        };
        Ok(Self {
            http: http::request_client(config)?,
            base: http::endpoint_url(&base_only, "")?,
            authorization: http::authorization(token)?,
            project: config.project.map(str::to_owned),
            environment: config.environment.map(str::to_owned),
        })
    }

    /// `…/v1/projects/{p}/environments/{e}/secrets/{rest…}`, each segment percent-encoded.
    fn url(&self, held: Option<(&str, &str)>, rest: &[&str]) -> Result<Url, SecretsError> {
        let project = self.project.as_deref().or(held.map(|h| h.0));
        let environment = self.environment.as_deref().or(held.map(|h| h.1));
        let (Some(project), Some(environment)) = (project, environment) else {
            return Err(SecretsError::UnknownEnvironment);
        };
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| SecretsError::Invalid("the server URL cannot take a path".into()))?;
            segments.pop_if_empty().extend(
                [
                    "v1",
                    "projects",
                    project,
                    "environments",
                    environment,
                    "secrets",
                ]
                .iter()
                .chain(rest),
            );
        }
        Ok(url)
    }

    /// Every secret of the environment (`GET …/secrets/export?format=json`).
    pub(crate) async fn fetch_all(
        &self,
        held: Option<(&str, &str)>,
    ) -> Result<Secrets, SecretsError> {
        let mut url = self.url(held, &["export"])?;
        url.query_pairs_mut().append_pair("format", "json");
        let body = self.get(url).await?;
        serde_json::from_slice::<BTreeMap<String, SecretValue>>(&body)
            .map(Secrets)
            .map_err(unreadable)
    }

    /// One secret (`GET …/secrets/{name}`).
    pub(crate) async fn fetch_one(
        &self,
        held: Option<(&str, &str)>,
        name: &str,
    ) -> Result<SecretValue, SecretsError> {
        #[derive(Deserialize)]
        struct Read {
            value: SecretValue,
        }
        let body = self.get(self.url(held, &[name])?).await?;
        serde_json::from_slice::<Read>(&body)
            .map(|read| read.value)
            .map_err(unreadable)
    }

    /// The body of a successful `GET`, in a buffer wiped on drop.
    async fn get(&self, url: Url) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let mut response = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json")
            .header(CACHE_CONTROL, "no-store")
            .send()
            .await
            .map_err(|e| SecretsError::Unreachable(chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let detail = http::problem_detail(&mut response).await;
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SecretsError::Unauthorized {
                    status: status.as_u16(),
                    detail,
                },
                StatusCode::NOT_FOUND => SecretsError::NotFound(detail),
                _ => SecretsError::Status {
                    status: status.as_u16(),
                    detail,
                },
            });
        }
        let mut body = Zeroizing::new(Vec::new());
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SecretsError::Unreachable(chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_SECRETS_BYTES {
                return Err(SecretsError::Invalid("larger than 16 MiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Where a body failed to parse, without the parser's message (which may quote the input).
fn unreadable(error: serde_json::Error) -> SecretsError {
    SecretsError::Invalid(format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn values_never_show_in_debug_output() {
        let secrets: Secrets = Secrets(
            serde_json::from_str(r#"{"DB_PASSWORD": "hunter2", "API_KEY": "k-123"}"#).unwrap(),
        );
        let shown = format!("{secrets:?} {:?}", secrets.get("DB_PASSWORD").unwrap());
        assert!(
            !shown.contains("hunter2") && !shown.contains("k-123"),
            "{shown}"
        );
        assert!(shown.contains("DB_PASSWORD") && shown.contains("***"));
        assert_eq!(secrets.get("API_KEY").unwrap().expose(), "k-123");
    }

    #[test]
    fn a_parse_error_does_not_quote_the_body() {
        let error = serde_json::from_slice::<BTreeMap<String, SecretValue>>(
            br#"{"DB_PASSWORD": ["hunter2"]}"#,
        )
        .unwrap_err();
        let message = unreadable(error).to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn names_are_percent_encoded_into_the_path() {
        let endpoint = SecretsEndpoint::new(
            &http::EndpointConfig {
                base_url: "https://example.com/switchboard",
                token: "t",
                project: None,
                environment: None,
                connect_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(1),
            },
            "t",
        )
        .unwrap();
        assert_eq!(
            endpoint.url(None, &["x"]).unwrap_err(),
            SecretsError::UnknownEnvironment
        );
        assert_eq!(
            endpoint
                .url(Some(("shop", "prod")), &["a/b c"])
                .unwrap()
                .as_str(),
            "https://example.com/switchboard/v1/projects/shop/environments/prod/secrets/a%2Fb%20c"
        );
    }
}
