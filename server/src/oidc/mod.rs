//! Keyless pipelines: a CI job presents its OIDC identity token and receives a short-lived
//! Switchboard token through RFC 8693 token exchange, if a project's trust policy accepts it.
//!
//! # Layout
//! - [`policy`]: trust policies, parsed once into a valid [`policy::PolicySpec`].
//! - [`claims`]: bound claims (exact values and narrow globs) and the rule that a policy must
//!   anchor the identity to an immutable id or an owner-qualified subject.
//! - [`keys`]: issuers' keys via discovery and JWKS over HTTPS, cached so that the exchange
//!   makes no outbound call while the key set is fresh.
//! - [`verify`]: signature and registered claims of a presented token.
//!
//! The exchange itself (policy, verification, bound claims, narrowing, replay check, the issued
//! token and the audit event) is the top-level `token_exchange` module: it needs the state and
//! the store, which stores this module's types.
//!
//! Every refusal is a [`Refusal`]: a stable reason recorded in the audit log and answered as an
//! OAuth error (`error`, `error_description`). Neither ever contains the presented token or a
//! claim's value.

pub mod claims;
pub mod keys;
pub mod policy;
pub mod verify;

use claims::ClaimMismatch;

/// Why an exchange was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request lacks a parameter or has one of the wrong shape (the message says which).
    Request(String),
    UnsupportedGrant,
    UnknownPolicy,
    Malformed,
    Algorithm,
    NoKeyId,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    MissingClaim,
    NoJti,
    Claim(ClaimMismatch),
    /// The request's `scope` asks for more than the policy grants.
    Scope,
    Replayed,
    /// The issuer's keys are not cached and the issuer cannot be reached.
    IssuerUnavailable,
}

impl Refusal {
    /// The stable reason recorded in the audit log (`after.reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Request(_) => "invalid_request",
            Refusal::UnsupportedGrant => "unsupported_grant_type",
            Refusal::UnknownPolicy => "unknown_policy",
            Refusal::Malformed => "malformed_token",
            Refusal::Algorithm => "algorithm_not_accepted",
            Refusal::NoKeyId => "no_key_id",
            Refusal::UnknownKey => "unknown_key_id",
            Refusal::Signature => "bad_signature",
            Refusal::Issuer => "wrong_issuer",
            Refusal::Audience => "wrong_audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::MissingClaim => "missing_registered_claim",
            Refusal::NoJti => "no_jti",
            Refusal::Claim(ClaimMismatch::Missing(_)) => "claim_missing",
            Refusal::Claim(ClaimMismatch::Different(_)) => "claim_mismatch",
            Refusal::Scope => "scope_not_granted",
            Refusal::Replayed => "replayed",
            Refusal::IssuerUnavailable => "issuer_unavailable",
        }
    }

    /// The OAuth error code (RFC 6749 §5.2, RFC 8693 §2.2.2).
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Refusal::Request(_) => "invalid_request",
            Refusal::UnsupportedGrant => "unsupported_grant_type",
            Refusal::UnknownPolicy => "invalid_target",
            Refusal::Scope => "invalid_scope",
            Refusal::IssuerUnavailable => "temporarily_unavailable",
            _ => "invalid_grant",
        }
    }

    /// What the caller reads; states the rule, never the token's content or a claim's value.
    pub fn description(&self) -> String {
        match self {
            Refusal::Request(message) => message.clone(),
            Refusal::UnsupportedGrant => {
                "grant_type must be urn:ietf:params:oauth:grant-type:token-exchange".into()
            }
            Refusal::UnknownPolicy => "no trust policy by that name".into(),
            Refusal::Malformed => "the subject token is not a well-formed JWT".into(),
            Refusal::Algorithm => "the subject token must be signed with RS256 or ES256".into(),
            Refusal::NoKeyId => "the subject token's header has no key id (kid)".into(),
            Refusal::UnknownKey => "the issuer has no signing key with the token's key id".into(),
            Refusal::Signature => "the subject token's signature does not verify".into(),
            Refusal::Issuer => "the subject token was not issued by the policy's issuer".into(),
            Refusal::Audience => "the subject token is not meant for the policy's audiences".into(),
            Refusal::Expired => "the subject token has expired".into(),
            Refusal::NotYetValid => "the subject token is not valid yet".into(),
            Refusal::MissingClaim => {
                "the subject token lacks a required claim (exp, iat, iss, aud, sub)".into()
            }
            Refusal::NoJti => "the subject token has no jti; replay protection needs one".into(),
            Refusal::Claim(mismatch) => mismatch.to_string(),
            Refusal::Scope => "scope asks for more than the policy grants".into(),
            Refusal::Replayed => "the subject token was already exchanged".into(),
            Refusal::IssuerUnavailable => {
                "the issuer's signing keys cannot be fetched right now; retry shortly".into()
            }
        }
    }
}
