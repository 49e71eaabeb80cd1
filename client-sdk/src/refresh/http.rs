//! `GET /v1/sdk/snapshot`: one conditional request, and what its answer means.
//!
//! The server sends a strong `ETag`; sending it back as `If-None-Match` turns an unchanged
//! snapshot into a bodyless `304`, which is what almost every poll gets. Bodies arrive gzipped
//! (reqwest asks for and decodes gzip transparently) and are capped after decoding, so a broken or
//! hostile endpoint cannot make the client buffer without bound.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, HeaderValue, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use switchboard_core::Snapshot;

use crate::error::{BuildError, RefreshError, chain};

/// Largest decoded snapshot accepted: far above any real environment, far below harm.
const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;
/// Enough of an error body for its problem `detail`.
const MAX_PROBLEM_BYTES: usize = 16 * 1024;

/// Where and how to ask for the snapshot.
#[derive(Debug)]
pub(crate) struct SnapshotEndpoint {
    http: reqwest::Client,
    url: Url,
    /// `Bearer <token>`, marked sensitive so that it never shows in reqwest's `Debug` output.
    authorization: HeaderValue,
}

/// The settings the endpoint is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndpointConfig<'a> {
    pub(crate) base_url: &'a str,
    pub(crate) token: &'a str,
    pub(crate) project: Option<&'a str>,
    pub(crate) environment: Option<&'a str>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

pub(crate) const USER_AGENT: &str = concat!("switchboard-client/", env!("CARGO_PKG_VERSION"));

/// `path` under the server's base URL, with the project and environment the builder names.
pub(crate) fn endpoint_url(config: &EndpointConfig<'_>, path: &str) -> Result<Url, BuildError> {
    let invalid = |reason: String| BuildError::InvalidUrl {
        url: config.base_url.to_owned(),
        reason,
    };
    let mut base = Url::parse(config.base_url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    // `join` replaces the last path segment unless the base ends with a slash: keep a path
    // prefix such as `https://example.com/switchboard`.
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let mut url = base.join(path).map_err(|e| invalid(e.to_string()))?;
    if config.project.is_some() || config.environment.is_some() {
        let mut query = url.query_pairs_mut();
        if let Some(project) = config.project {
            query.append_pair("project", project);
        }
        if let Some(environment) = config.environment {
            query.append_pair("environment", environment);
        }
    }
    Ok(url)
}

/// An HTTP client for requests that end: connect and whole-request timeouts.
pub(crate) fn request_client(config: &EndpointConfig<'_>) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(BuildError::Http)
}

/// `Bearer <token>`, marked sensitive so that it never shows in reqwest's `Debug` output.
pub(crate) fn authorization(token: &str) -> Result<HeaderValue, BuildError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| BuildError::InvalidToken)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A successful answer.
#[derive(Debug)]
pub(crate) enum Answer {
    Modified {
        snapshot: Box<Snapshot>,
        etag: Option<String>,
    },
    NotModified,
}

impl SnapshotEndpoint {
    pub(crate) fn new(config: &EndpointConfig<'_>) -> Result<Self, BuildError> {
        Ok(Self {
            http: request_client(config)?,
            url: endpoint_url(config, "v1/sdk/snapshot")?,
            authorization: authorization(config.token)?,
        })
    }

    /// One conditional `GET`.
    pub(crate) async fn fetch(&self, etag: Option<&str>) -> Result<Answer, RefreshError> {
        let mut request = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Answer::NotModified);
        }
        if !status.is_success() {
            return Err(refusal(&mut response).await);
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(&mut response, MAX_SNAPSHOT_BYTES)
            .await?
            .ok_or_else(|| {
                RefreshError::InvalidSnapshot(format!(
                    "larger than {} MiB",
                    MAX_SNAPSHOT_BYTES >> 20
                ))
            })?;
        let snapshot = serde_json::from_slice(&body)
            .map_err(|e| RefreshError::InvalidSnapshot(e.to_string()))?;
        Ok(Answer::Modified {
            snapshot: Box::new(snapshot),
            etag,
        })
    }
}

/// The error for an answer with a status other than success.
pub(crate) async fn refusal(response: &mut reqwest::Response) -> RefreshError {
    let status = response.status();
    let detail = problem_detail(response).await;
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RefreshError::Unauthorized {
            status: status.as_u16(),
            detail,
        },
        _ => RefreshError::Status {
            status: status.as_u16(),
            detail,
        },
    }
}

/// The answer's `Retry-After` in seconds (the HTTP-date form is not used by Switchboard and is
/// ignored).
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

pub(crate) fn unreachable(error: reqwest::Error) -> RefreshError {
    RefreshError::Unreachable(chain(&error))
}

/// The body, or `None` if it is longer than `cap`.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, RefreshError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The `detail` of a problem+json body, else the status's reason phrase.
pub(crate) async fn problem_detail(response: &mut reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Problem {
        detail: Option<String>,
    }
    let fallback = response
        .status()
        .canonical_reason()
        .unwrap_or("no detail")
        .to_owned();
    match read_capped(response, MAX_PROBLEM_BYTES).await {
        Ok(Some(body)) => serde_json::from_slice::<Problem>(&body)
            .ok()
            .and_then(|p| p.detail)
            .unwrap_or(fallback),
        _ => fallback,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn endpoint(base_url: &str, project: Option<&str>) -> Result<SnapshotEndpoint, BuildError> {
        SnapshotEndpoint::new(&EndpointConfig {
            base_url,
            token: "t",
            project,
            environment: project.map(|_| "prod & co"),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        })
    }

    #[test]
    fn the_snapshot_url_keeps_a_path_prefix_and_encodes_the_query() {
        assert_eq!(
            endpoint("http://127.0.0.1:8080", None)
                .unwrap()
                .url
                .as_str(),
            "http://127.0.0.1:8080/v1/sdk/snapshot"
        );
        assert_eq!(
            endpoint("https://example.com/switchboard", Some("shop"))
                .unwrap()
                .url
                .as_str(),
            "https://example.com/switchboard/v1/sdk/snapshot?project=shop&environment=prod+%26+co"
        );
    }

    #[test]
    fn a_bad_url_or_token_is_refused_without_echoing_the_token() {
        assert!(matches!(
            endpoint("127.0.0.1:8080", None),
            Err(BuildError::InvalidUrl { .. })
        ));
        assert!(matches!(
            endpoint("ftp://example.com", None),
            Err(BuildError::InvalidUrl { .. })
        ));
        let error = SnapshotEndpoint::new(&EndpointConfig {
            base_url: "http://localhost",
            token: "secret\n",
            project: None,
            environment: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        })
        .unwrap_err();
        assert!(matches!(error, BuildError::InvalidToken));
        assert!(!error.to_string().contains("secret"));
    }
}
