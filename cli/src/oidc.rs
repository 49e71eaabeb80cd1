//! Keyless pipelines on the CLI side: inside GitHub Actions or GitLab CI, with
//! `--oidc-policy`/`SWITCHBOARD_OIDC_POLICY` naming a trust policy (`project/name`), every
//! command obtains its own short-lived token instead of reading a stored one:
//!
//! 1. the job's OIDC identity token: GitHub Actions hands one out on request
//!    (`ACTIONS_ID_TOKEN_REQUEST_URL` with `ACTIONS_ID_TOKEN_REQUEST_TOKEN` as bearer, the
//!    audience as a query parameter; the job needs `permissions: id-token: write`); GitLab CI
//!    puts one in the variable its `id_tokens:` block names, `SWITCHBOARD_ID_TOKEN` here;
//! 2. the server's RFC 8693 token exchange turns it into a Switchboard token.
//!
//! `switchboard login --oidc` does the same and prints the token, for tools other than the CLI.
//! Neither token is ever printed by the other commands or written anywhere.

use std::time::Duration;

use clap::Args;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::profiles::Connection;

/// The GitLab variable the job's `id_tokens:` block fills.
pub const GITLAB_VARIABLE: &str = "SWITCHBOARD_ID_TOKEN";

/// `switchboard login --oidc`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Exchange this CI job's OIDC identity token (needs `--oidc-policy`) and print the token.
    #[arg(long)]
    pub oidc: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Deserialize)]
struct GithubAnswer {
    value: Zeroizing<String>,
}

#[derive(Deserialize)]
struct Exchanged {
    access_token: Zeroizing<String>,
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("switchboard-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Local(anyhow::Error::from(e).context("building the HTTP client")))
}

/// The job's OIDC identity token for `audience`: GitHub Actions' on request, else GitLab's
/// from `SWITCHBOARD_ID_TOKEN`.
pub async fn identity_token(audience: &str) -> Result<Zeroizing<String>> {
    let github = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL").ok(),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .ok()
            .map(Zeroizing::new),
    );
    match github {
        (Some(url), Some(request_token)) => github_token(&url, &request_token, audience).await,
        (Some(_), None) | (None, Some(_)) => Err(Error::usage(
            "GitHub Actions gives an OIDC token only to jobs with `permissions: id-token: write` \
             (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN must both be set)",
        )),
        (None, None) => match std::env::var(GITLAB_VARIABLE) {
            Ok(token) if !token.trim().is_empty() => Ok(Zeroizing::new(token.trim().to_owned())),
            _ => Err(Error::usage(format!(
                "--oidc-policy needs the CI job's OIDC identity token: in GitHub Actions give the \
                 job `permissions: id-token: write`; in GitLab CI add `id_tokens: {GITLAB_VARIABLE}: \
                 aud: <audience>` to the job"
            ))),
        },
    }
}

async fn github_token(url: &str, request_token: &str, audience: &str) -> Result<Zeroizing<String>> {
    let mut url =
        Url::parse(url).map_err(|_| Error::usage("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL"))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let mut authorization = HeaderValue::from_str(&format!("Bearer {request_token}"))
        .map_err(|_| Error::usage("ACTIONS_ID_TOKEN_REQUEST_TOKEN cannot be sent in a header"))?;
    authorization.set_sensitive(true);
    let response = http()?
        .get(url.clone())
        .header(AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| Error::network(&url, &e))?;
    if !response.status().is_success() {
        return Err(Error::Local(anyhow::anyhow!(
            "GitHub Actions refused the OIDC token request ({})",
            response.status()
        )));
    }
    let answer: GithubAnswer = response
        .json()
        .await
        .map_err(|_| Error::Local(anyhow::anyhow!("GitHub Actions' OIDC answer has no token")))?;
    Ok(answer.value)
}

/// Exchanges `identity` at the server `base` for a token of `policy` (`project/name`).
pub async fn exchange(base: &Url, policy: &str, identity: &str) -> Result<Zeroizing<String>> {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["v1", "auth", "token-exchange"]);
    }
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", identity),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("policy", policy),
    ];
    let body = Zeroizing::new(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish(),
    );
    let response = http()?
        .post(url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.as_bytes().to_vec())
        .send()
        .await
        .map_err(|e| Error::network(&url, &e))?;
    if !response.status().is_success() {
        return Err(crate::client::failure(response).await);
    }
    let answer: Exchanged = response.json().await.map_err(|_| {
        Error::Local(anyhow::anyhow!(
            "the token exchange's answer has no access_token; is {base} a Switchboard server?"
        ))
    })?;
    Ok(answer.access_token)
}

/// The token a command uses when `--oidc-policy` is set: the job's identity token exchanged.
/// The audience asked of GitHub is `--oidc-audience`, else the server URL.
pub async fn token_for(
    base: &Url,
    policy: &str,
    audience: Option<&str>,
) -> Result<Zeroizing<String>> {
    let default_audience = base.as_str().trim_end_matches('/').to_owned();
    let identity = identity_token(audience.unwrap_or(&default_audience)).await?;
    exchange(base, policy, &identity).await
}

/// `switchboard login --oidc`: prints the exchanged token on stdout (and nothing else).
pub async fn login(args: LoginArgs) -> Result<()> {
    if !args.oidc {
        return Err(Error::usage(
            "only `switchboard login --oidc` exists: operators use a token (--token or a profile)",
        ));
    }
    if args.connection.oidc_policy.is_none() {
        return Err(Error::usage(
            "`login --oidc` needs --oidc-policy or SWITCHBOARD_OIDC_POLICY (project/name)",
        ));
    }
    let session = args.connection.connect(None).await?;
    println!("{}", *session.client.bearer_token());
    Ok(())
}
