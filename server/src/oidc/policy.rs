//! Trust policies: which identity tokens a project accepts and what the exchanged token may do.
//!
//! A policy is parsed once from its request body ([`PolicyBody::parse`]) into a [`PolicySpec`]
//! whose every part is valid, so the exchange never re-checks it. The rules a policy must meet
//! are the federation lessons of the anchors (Vault JWT auth, PyPI trusted publishing, cloud
//! workload identity): an HTTPS issuer, at least one audience, an identity anchored by an
//! immutable id or an owner-qualified subject ([`super::claims`]), no `admin` scope (a pipeline
//! never manages tokens), and a short lifetime (default 15 minutes, at most one hour).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::claims::BoundClaims;
use crate::domain::FieldError;
use crate::domain::{Access, Scope, Slug};

pub const DEFAULT_TTL_SECS: u64 = 15 * 60;
pub const MAX_TTL_SECS: u64 = 60 * 60;
const MIN_TTL_SECS: u64 = 60;
const MAX_URL: usize = 512;
const MAX_AUDIENCES: usize = 8;

/// A policy as the API receives it (create and replace).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub name: Slug,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub bound_claims: BTreeMap<String, String>,
    pub scopes: Vec<String>,
    pub environments: Vec<String>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub ttl_seconds: Option<u64>,
}

/// JSON Schema's reading, as the spec says: `900.0` is a whole number, `null` is refused.
fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    switchboard_core::model::wire::whole_number(deserializer).map(Some)
}

/// What a valid policy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// `https://…` without a trailing slash: compared to the token's `iss` exactly.
    pub issuer: String,
    pub audiences: Vec<String>,
    pub bound_claims: BoundClaims,
    pub scopes: Vec<Scope>,
    /// Environments of the policy's project; `All` means every one of them.
    pub environments: Access,
    pub ttl_secs: u64,
}

/// A stored policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    pub id: String,
    pub project: String,
    pub name: String,
    pub spec: PolicySpec,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The public view of a policy (API answers and audit events).
#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub project: String,
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub bound_claims: BTreeMap<String, String>,
    pub scopes: Vec<Scope>,
    pub environments: Vec<String>,
    pub ttl_seconds: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl TrustPolicy {
    pub fn view(&self) -> PolicyView {
        PolicyView {
            project: self.project.clone(),
            name: self.name.clone(),
            issuer: self.spec.issuer.clone(),
            audiences: self.spec.audiences.clone(),
            bound_claims: self.spec.bound_claims.to_map(),
            scopes: self.spec.scopes.clone(),
            environments: self.spec.environments.to_names(),
            ttl_seconds: self.spec.ttl_secs,
            created_at: crate::domain::format_micros(self.created_at),
            updated_at: crate::domain::format_micros(self.updated_at),
        }
    }

    /// `project/name`: how the exchange names a policy.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.project, self.name)
    }
}

impl PolicyBody {
    /// Checks every field and reports all problems at once; messages state rules, never values.
    pub fn parse(self) -> Result<(Slug, PolicySpec), Vec<FieldError>> {
        let mut errors = Vec::new();
        let issuer = parse_issuer(&self.issuer)
            .map_err(|m| errors.push(FieldError::new("body.issuer", m)))
            .ok();
        if self.audiences.is_empty() || self.audiences.len() > MAX_AUDIENCES {
            errors.push(FieldError::new(
                "body.audiences",
                format!("must name 1-{MAX_AUDIENCES} audiences"),
            ));
        }
        for (i, audience) in self.audiences.iter().enumerate() {
            if audience.trim().is_empty() || audience.chars().count() > MAX_URL {
                errors.push(FieldError::new(
                    format!("body.audiences[{i}]"),
                    format!("must be 1-{MAX_URL} characters"),
                ));
            }
        }
        let bound_claims = BoundClaims::parse(&self.bound_claims)
            .map_err(|problems| {
                for (claim, message) in problems {
                    let field = if claim.is_empty() {
                        "body.bound_claims".to_owned()
                    } else {
                        format!("body.bound_claims.{claim}")
                    };
                    errors.push(FieldError::new(field, message));
                }
            })
            .ok();
        let mut scopes = Vec::new();
        if self.scopes.is_empty() {
            errors.push(FieldError::new(
                "body.scopes",
                "must name at least one scope",
            ));
        }
        for (i, name) in self.scopes.iter().enumerate() {
            match Scope::ALL.iter().find(|s| s.name() == name) {
                Some(Scope::Admin) => errors.push(FieldError::new(
                    format!("body.scopes[{i}]"),
                    "`admin` cannot be granted to a pipeline",
                )),
                Some(scope) if !scopes.contains(scope) => scopes.push(*scope),
                Some(_) => {}
                None => errors.push(FieldError::new(
                    format!("body.scopes[{i}]"),
                    "not a scope; expected one of `flags:read`, `flags:write`, `config:read`, `config:write`, `secrets:read`, `secrets:write`",
                )),
            }
        }
        let environments = Access::from_names(&self.environments)
            .map_err(|m| errors.push(FieldError::new("body.environments", m)))
            .ok();
        let ttl_secs = self.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
        if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl_secs) {
            errors.push(FieldError::new(
                "body.ttl_seconds",
                format!("must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
            ));
        }
        match (issuer, bound_claims, environments) {
            (Some(issuer), Some(bound_claims), Some(environments)) if errors.is_empty() => Ok((
                self.name,
                PolicySpec {
                    issuer,
                    audiences: self.audiences,
                    bound_claims,
                    scopes,
                    environments,
                    ttl_secs,
                },
            )),
            _ => Err(errors),
        }
    }
}

/// An issuer is an `https://` URL with a host and no query or fragment (OpenID Connect
/// Discovery §3); a trailing slash is dropped, as issuers write their `iss` without it.
fn parse_issuer(raw: &str) -> Result<String, String> {
    const RULE: &str = "must be an https:// URL with a host and no query or fragment";
    if raw.chars().count() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    let rest = raw.strip_prefix("https://").ok_or(RULE)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ', '@']) || rest.chars().any(char::is_control)
    {
        return Err(RULE.into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_urls_and_lose_their_trailing_slash() {
        assert_eq!(
            parse_issuer("https://token.actions.githubusercontent.com/"),
            Ok("https://token.actions.githubusercontent.com".to_owned())
        );
        assert_eq!(
            parse_issuer("https://gitlab.example.com/gitlab"),
            Ok("https://gitlab.example.com/gitlab".to_owned())
        );
        for bad in [
            "http://gitlab.example.com",
            "https://",
            "https:///x",
            "https://a?b=c",
            "https://user@host",
            "gitlab.example.com",
        ] {
            assert!(parse_issuer(bad).is_err(), "{bad}");
        }
    }
}
