//! One token exchange, accepted or refused, and its audit event.
//!
//! The steps, cheapest first: the named policy (one indexed read), the token's header and
//! issuer, the signature with a cached key (no network while the issuer's key set is fresh),
//! the bound claims, the requested narrowing; then one transaction records the `jti` (a replay
//! is refused here, on every instance, because the row is shared), issues the token with its
//! federated identity, and appends the audit event. A refusal is audit-logged in a transaction
//! of its own with its reason, the policy when there is one, and the identity when the token
//! verified (the claims' values are only ever recorded once the signature holds).

use serde_json::json;
use zeroize::Zeroizing;

use crate::auth::TokenRequest;
use crate::domain::{Access, Scope, ScopeSet, Slug};
use crate::oidc::Refusal;
use crate::oidc::claims::ClaimMismatch;
use crate::oidc::policy::TrustPolicy;
use crate::oidc::verify::{self, VerifiedToken};
use crate::state::AppState;
use crate::store::audit::{self, Actor, Change};
use crate::store::tokens::Federation;
use crate::store::{StoreError, format_micros, now_micros, oidc};

/// What a CI job asks for.
#[derive(Debug)]
pub struct ExchangeRequest {
    /// The policy's project and name (`project/name` on the wire).
    pub project: Slug,
    pub policy: Slug,
    pub subject_token: Zeroizing<String>,
    /// RFC 8693 `scope`: space-separated scope names and `env:<name>` entries that narrow what
    /// the policy grants; absent, the token gets all of it.
    pub scope: Option<String>,
}

/// An issued token.
#[derive(Debug)]
pub struct Exchanged {
    pub access_token: Zeroizing<String>,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{}", .0.description())]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an attempt stopped, with what is known by then for the audit event.
struct Stopped {
    refusal: Refusal,
    policy: Option<TrustPolicy>,
    identity: Option<Federation>,
}

impl From<Refusal> for Stopped {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            policy: None,
            identity: None,
        }
    }
}

/// Runs the exchange for `actor` (its address and request id; the name is filled in here).
#[tracing::instrument(skip_all)]
pub async fn exchange(
    state: &AppState,
    actor: Actor,
    request: ExchangeRequest,
) -> Result<Exchanged, ExchangeError> {
    let mut actor = actor;
    match attempt(state, &mut actor, &request).await {
        Ok(done) => Ok(done),
        Err(Attempt::Store(error)) => Err(error.into()),
        Err(Attempt::Stopped(stopped)) => {
            record_refusal(state, &actor, &stopped).await;
            Err(ExchangeError::Refused(stopped.refusal))
        }
    }
}

enum Attempt {
    /// Boxed: it carries the policy and the identity, and travels through every `?`.
    Stopped(Box<Stopped>),
    Store(StoreError),
}

impl From<Refusal> for Attempt {
    fn from(refusal: Refusal) -> Self {
        Attempt::Stopped(Box::new(refusal.into()))
    }
}

async fn attempt(
    state: &AppState,
    actor: &mut Actor,
    request: &ExchangeRequest,
) -> Result<Exchanged, Attempt> {
    let policy = match oidc::get(
        &state.store,
        request.project.as_str(),
        request.policy.as_str(),
    )
    .await
    {
        Ok(policy) => policy,
        Err(StoreError::NotFound) => return Err(Refusal::UnknownPolicy.into()),
        Err(other) => return Err(Attempt::Store(other)),
    };
    let stop = |refusal: Refusal, identity: Option<Federation>| {
        Attempt::Stopped(Box::new(Stopped {
            refusal,
            policy: Some(policy.clone()),
            identity,
        }))
    };
    let now = now_micros();
    let token = verify::verify(
        &state.issuer_keys,
        &policy.spec,
        &request.subject_token,
        now / 1_000_000,
    )
    .await
    .map_err(|refusal| stop(refusal, None))?;
    let identity = identity_of(&policy, &token);
    actor.name = truncated(&format!("oidc:{}", token.subject));
    if let Err(mismatch) = policy.spec.bound_claims.check(&token.claims) {
        return Err(stop(Refusal::Claim(mismatch), Some(identity)));
    }
    let (scopes, environments) = narrowed(&policy, request.scope.as_deref())
        .map_err(|refusal| stop(refusal, Some(identity.clone())))?;
    let project = Slug::parse(&policy.project).map_err(|_| {
        Attempt::Store(StoreError::Other(anyhow::anyhow!(
            "a stored policy names a project that is not a slug"
        )))
    })?;
    let grant = TokenRequest {
        name: truncated(&format!("oidc:{}:{}", policy.reference(), token.subject)),
        scopes: scopes.clone(),
        projects: Access::Only(vec![project]),
        environments: environments.clone(),
        ttl_secs: policy.spec.ttl_secs,
        not_after: None,
    };
    let issued = async {
        let mut tx = state.store.begin_write().await?;
        if !oidc::remember_exchanged(&mut tx, &policy.spec.issuer, &token.jti, token.expires_at)
            .await?
        {
            return Ok(None);
        }
        let (record, jwt) = state
            .tokens
            .issue_in(&mut tx, actor, grant, Some(identity.clone()))
            .await?;
        audit::append(
            &mut tx,
            actor,
            Change {
                action: "token.exchange",
                project: Some(&policy.project),
                environment: None,
                target: format!("oidc-policy/{}", policy.reference()),
                before: None,
                after: Some(json!({
                    "outcome": "issued",
                    "token": record.id,
                    "identity": identity,
                    "scopes": record.scopes,
                    "environments": record.environments.to_names(),
                    "expires_at": format_micros(record.expires_at),
                })),
            },
        )
        .await?;
        crate::store::write_scope::commit(tx).await?;
        Ok::<_, StoreError>(Some((record, jwt)))
    }
    .await
    .map_err(Attempt::Store)?;
    let Some((record, jwt)) = issued else {
        return Err(stop(Refusal::Replayed, Some(identity)));
    };
    Ok(Exchanged {
        access_token: Zeroizing::new(jwt),
        expires_in: u64::try_from((record.expires_at - now_micros()) / 1_000_000).unwrap_or(0),
    })
}

/// The scopes and environments the token gets: the policy's, or the part of them `scope` asks.
fn narrowed(policy: &TrustPolicy, scope: Option<&str>) -> Result<(Vec<Scope>, Access), Refusal> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Ok((policy.spec.scopes.clone(), policy.spec.environments.clone()));
    };
    let granted = ScopeSet::from_scopes(&policy.spec.scopes);
    let mut scopes = Vec::new();
    let mut environments = Vec::new();
    for item in scope.split_whitespace() {
        if let Some(name) = item.strip_prefix("env:") {
            let env = Slug::parse(name).map_err(|_| {
                Refusal::Request("scope: `env:` must name an environment (a slug)".into())
            })?;
            if !policy.spec.environments.allows(env.as_str()) {
                return Err(Refusal::Scope);
            }
            if !environments.contains(&env) {
                environments.push(env);
            }
            continue;
        }
        let wanted = Scope::ALL
            .into_iter()
            .find(|s| s.name() == item)
            .ok_or(Refusal::Scope)?;
        if !granted.allows(wanted) || wanted == Scope::Admin {
            return Err(Refusal::Scope);
        }
        if !scopes.contains(&wanted) {
            scopes.push(wanted);
        }
    }
    let scopes = if scopes.is_empty() {
        policy.spec.scopes.clone()
    } else {
        scopes
    };
    let environments = if environments.is_empty() {
        policy.spec.environments.clone()
    } else {
        Access::Only(environments)
    };
    Ok((scopes, environments))
}

/// Who the verified token says the job is: GitHub's and GitLab's claim names.
fn identity_of(policy: &TrustPolicy, token: &VerifiedToken) -> Federation {
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| match token.claims.get(*name)? {
                serde_json::Value::String(s) => Some(truncated(s)),
                value @ serde_json::Value::Number(_) => Some(value.to_string()),
                _ => None,
            })
    };
    Federation {
        policy: policy.reference(),
        issuer: policy.spec.issuer.clone(),
        subject: truncated(&token.subject),
        repository: text(&["repository", "project_path"]),
        run_id: text(&["run_id", "pipeline_id"]),
    }
}

/// At most 200 characters (a token's name limit).
fn truncated(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Records a request refused before any policy was looked up (its shape was wrong).
pub async fn record_refused(state: &AppState, actor: &Actor, refusal: Refusal) {
    record_refusal(state, actor, &refusal.into()).await;
}

/// Appends the refusal's audit event; a failure to do so is logged, and the caller is refused
/// all the same.
async fn record_refusal(state: &AppState, actor: &Actor, stopped: &Stopped) {
    let mut after = json!({
        "outcome": "refused",
        "reason": stopped.refusal.reason(),
        "detail": stopped.refusal.description(),
    });
    if let (Some(identity), Some(fields)) = (&stopped.identity, after.as_object_mut()) {
        fields.insert("identity".into(), json!(identity));
    }
    if let (
        Refusal::Claim(ClaimMismatch::Missing(claim) | ClaimMismatch::Different(claim)),
        Some(fields),
    ) = (&stopped.refusal, after.as_object_mut())
    {
        fields.insert("claim".into(), json!(claim));
    }
    let target = stopped.policy.as_ref().map_or_else(
        || "oidc-policy".to_owned(),
        |policy| format!("oidc-policy/{}", policy.reference()),
    );
    let written = async {
        let mut tx = state.store.begin_write().await?;
        audit::append(
            &mut tx,
            actor,
            Change {
                action: "token.exchange_refused",
                project: stopped.policy.as_ref().map(|p| p.project.as_str()),
                environment: None,
                target,
                before: None,
                after: Some(after),
            },
        )
        .await?;
        crate::store::write_scope::commit(tx).await?;
        Ok::<(), StoreError>(())
    }
    .await;
    if let Err(error) = written {
        tracing::warn!(%error, "recording a refused token exchange failed");
    }
}
