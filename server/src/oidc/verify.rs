//! Verifying a presented identity token against a policy's issuer and audiences.
//!
//! The order matters for what an attacker can make the server do: the header's algorithm and
//! the token's (unverified) `iss` are checked first, so a token for another issuer or with an
//! algorithm we never accept is refused without a look-up; only then is the key fetched (from
//! the cache, see [`super::keys`]) and the signature, `iss`, `aud`, `exp`, `nbf` and `iat`
//! checked with a small leeway. RS256 and ES256 only: no `none`, and no HMAC, whose "secret"
//! would be the issuer's public key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Refusal;
use super::keys::{IssuerKeys, KeyError};
use crate::oidc::policy::PolicySpec;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Longest identity token accepted (GitHub's are about 1.5 KB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
const MAX_JTI: usize = 256;

/// A token whose signature and registered claims hold.
#[derive(Debug)]
pub struct VerifiedToken {
    pub claims: Map<String, Value>,
    pub subject: String,
    pub jti: String,
    /// The token's `exp`, microseconds since the epoch.
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: Option<&str>) -> Result<T, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.ok_or(Refusal::Malformed)?)
        .map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

/// Verifies `token` for `policy`; the refusal says why, never with the token's content.
pub async fn verify(
    keys: &IssuerKeys,
    policy: &PolicySpec,
    token: &str,
    now_secs: i64,
) -> Result<VerifiedToken, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed);
    }
    let mut parts = token.split('.');
    let header: Header = decode_part(parts.next())?;
    let algorithm = match header.alg.as_str() {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        _ => return Err(Refusal::Algorithm),
    };
    let unverified: Unverified = decode_part(parts.next())?;
    if unverified.iss.as_deref() != Some(policy.issuer.as_str()) {
        return Err(Refusal::Issuer);
    }
    let kid = header.kid.ok_or(Refusal::NoKeyId)?;
    let key = keys.key(&policy.issuer, &kid).await.map_err(|e| match e {
        KeyError::UnknownKey => Refusal::UnknownKey,
        KeyError::Unreachable(cause) => {
            tracing::warn!(error = %cause, "an issuer's keys could not be fetched");
            Refusal::IssuerUnavailable
        }
    })?;
    if key.algorithm != algorithm {
        return Err(Refusal::Algorithm);
    }
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[policy.issuer.as_str()]);
    validation.set_audience(&policy.audiences);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::ImmatureSignature => Refusal::NotYetValid,
            ErrorKind::InvalidAudience => Refusal::Audience,
            ErrorKind::InvalidIssuer => Refusal::Issuer,
            ErrorKind::InvalidSignature => Refusal::Signature,
            ErrorKind::InvalidAlgorithm => Refusal::Algorithm,
            ErrorKind::MissingRequiredClaim(_) => Refusal::MissingClaim,
            _ => Refusal::Malformed,
        })?
        .claims;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(Refusal::MissingClaim)?;
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
    if iat > now_secs + leeway {
        return Err(Refusal::NotYetValid);
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Refusal::MissingClaim)?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::MissingClaim)?
        .to_owned();
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or(Refusal::NoJti)?
        .to_owned();
    Ok(VerifiedToken {
        claims,
        subject,
        jti,
        expires_at: exp.saturating_add(leeway).saturating_mul(1_000_000),
    })
}
