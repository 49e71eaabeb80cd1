//! The HTTP client of the remote commands: one base URL, one bearer token, JSON in and out.
//!
//! Every answer outside 2xx becomes [`Error::Api`] carrying the server's problem document, so
//! commands only handle success. Path segments are percent-encoded here (a flag key or a
//! secret name never changes the route), and a base URL with a path (`https://host/switchboard`)
//! works behind a reverse proxy.

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response, Url};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::api::{Page, parse};
use crate::error::{ApiFailure, Error, Problem, Result};

/// Most answers are small; a bigger one is a misconfigured URL, not something to keep reading.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
}

impl fmt::Debug for Client {
    // Hand-written: the token must never reach a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(base: Url, token: Zeroizing<String>) -> Result<Self> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| Error::usage("the token contains characters a header cannot carry"))?;
        // Kept out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchboard-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| {
                Error::Local(anyhow::Error::from(e).context("building the HTTP client"))
            })?;
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    /// The bearer token this client sends (`switchboard login --oidc` prints it).
    pub fn bearer_token(&self) -> Zeroizing<String> {
        let header = self.authorization.to_str().unwrap_or_default();
        Zeroizing::new(header.strip_prefix("Bearer ").unwrap_or(header).to_owned())
    }

    /// The URL of `segments` under the base, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `/v1/projects/{project}/environments/{env}/{rest…}`.
    pub fn env_url(&self, project: &str, env: &str, rest: &[&str]) -> Url {
        let mut segments = vec!["v1", "projects", project, "environments", env];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    /// `/v1/projects/{project}/environments/{env}/{kind}/{name}/{rest…}`: one config key,
    /// secret or flag state of an environment, or an action on it.
    pub fn env_item_url(
        &self,
        (project, env): (&str, &str),
        kind: &str,
        name: &str,
        rest: &[&str],
    ) -> Url {
        let mut segments = vec![kind, name];
        segments.extend_from_slice(rest);
        self.env_url(project, env, &segments)
    }

    /// Sends a request (with a JSON body when given); an error status becomes [`Error::Api`].
    pub async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Response> {
        let bytes = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(anyhow::Error::from)?),
            None => None,
        };
        self.send_bytes(method, url, bytes).await
    }

    /// [`Client::send`] with a body serialized by the caller (a secret's, which should not pass
    /// through a `serde_json::Value` copy).
    pub async fn send_bytes(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, self.authorization.clone());
        if let Some(bytes) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let response = request.send().await.map_err(|e| Error::network(&url, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(failure(response).await)
        }
    }

    /// Sends a request and parses the JSON answer (`null` for an empty one, e.g. 204).
    pub async fn json(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value> {
        let response = self.send(method, url.clone(), body).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::network(&url, &e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Local(anyhow::anyhow!(
                "the server's answer is not JSON ({e}); is {} a Switchboard server?",
                self.base
            ))
        })
    }

    pub async fn get(&self, url: Url) -> Result<Value> {
        self.json(Method::GET, url, None).await
    }

    /// Every item of a paginated list, following `next_cursor` to the end.
    pub async fn get_all(&self, url: Url) -> Result<Vec<Value>> {
        self.get_up_to(url, usize::MAX).await
    }

    /// The first `limit` items of a paginated list.
    pub async fn get_up_to(&self, url: Url, limit: usize) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_url = url.clone();
            {
                let mut query = page_url.query_pairs_mut();
                query.append_pair("limit", &limit.min(200).to_string());
                if let Some(cursor) = &cursor {
                    query.append_pair("cursor", cursor);
                }
            }
            let page: Page<Value> = parse(&self.get(page_url).await?)?;
            items.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() || items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
        }
    }

    /// The body of a successful answer that holds secrets, in memory that is wiped on drop.
    pub async fn secret_body(&self, url: Url) -> Result<Zeroizing<Vec<u8>>> {
        let mut response = self.send(Method::GET, url.clone(), None).await?;
        let mut body = Zeroizing::new(Vec::new());
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Error::network(&url, &e))?
        {
            // Growing would leave unwiped copies behind: reserve before appending.
            if body.capacity() < body.len() + chunk.len() {
                let mut bigger = Zeroizing::new(Vec::with_capacity(
                    (body.len() + chunk.len()).max(body.capacity() * 2),
                ));
                bigger.extend_from_slice(&body);
                body = bigger;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The error an answer outside 2xx stands for, with the server's problem document.
pub(crate) async fn failure(response: Response) -> Error {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let problem = if is_json {
        match response.bytes().await {
            Ok(body) if body.len() <= MAX_ERROR_BODY => {
                serde_json::from_slice::<Problem>(&body).ok()
            }
            _ => None,
        }
    } else {
        None
    };
    Error::Api(ApiFailure { status, problem })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(Url::parse(base).unwrap(), Zeroizing::new("t".into())).unwrap()
    }

    #[test]
    fn segments_are_encoded_under_the_base_path() {
        assert_eq!(
            client("http://h:1")
                .url(&["v1", "projects", "a/b?c"])
                .as_str(),
            "http://h:1/v1/projects/a%2Fb%3Fc"
        );
        assert_eq!(
            client("http://h:1/sb/")
                .env_url("p", "e", &["secrets"])
                .as_str(),
            "http://h:1/sb/v1/projects/p/environments/e/secrets"
        );
    }
}
