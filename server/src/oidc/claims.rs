//! Bound claims: what an identity token's claims must say for a trust policy to accept it.
//!
//! A policy binds claims to exact values or globs, and *all* must match. Globs are deliberately
//! narrow, because the classic federation mistake is a pattern that matches a neighbour: `*`
//! matches within one segment (it never crosses `/` or `:`, the separators of GitHub's and
//! GitLab's claims), `**` matches anything, and the whole value must match (no prefix match).
//! So `repo:org/app:**` accepts every ref of `org/app` and nothing of `org/app-evil`.
//!
//! A policy must also *anchor* the identity: bind `sub` to something that names at least an
//! owner, or an immutable id claim (`repository_id`, `project_id`, …) to an exact value. A
//! policy that binds only the issuer and audience would accept every repository on a public
//! issuer such as GitHub's, so it is refused at creation.

use std::collections::BTreeMap;

use serde_json::Value;

/// Claims whose values never change for the same repository, owner or project (names can be
/// renamed and then taken by someone else; ids cannot): any of them bound exactly anchors a
/// policy. GitHub Actions and GitLab CI names.
pub const IMMUTABLE_ID_CLAIMS: [&str; 5] = [
    "repository_id",
    "repository_owner_id",
    "project_id",
    "namespace_id",
    "enterprise_id",
];

/// Longest accepted pattern, and most bound claims per policy.
const MAX_PATTERN: usize = 512;
pub const MAX_BOUND_CLAIMS: usize = 32;
/// Wildcards per pattern: bounds the matcher's backtracking.
const MAX_WILDCARDS: usize = 8;

/// One bound claim's expected value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPattern {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `*`: any run of characters without `/` or `:`.
    Segment,
    /// `**`: any run of characters.
    Any,
}

impl ClaimPattern {
    /// Parses a pattern; the error states the rule, never the pattern.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.chars().count() > MAX_PATTERN {
            return Err(format!("must be 1-{MAX_PATTERN} characters"));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                literal.push(c);
                continue;
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                if chars.peek() == Some(&'*') {
                    return Err("`***` is not a pattern; use `*` or `**`".into());
                }
                parts.push(Part::Any);
            } else {
                parts.push(Part::Segment);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts
            .iter()
            .filter(|p| !matches!(p, Part::Literal(_)))
            .count()
            > MAX_WILDCARDS
        {
            return Err(format!("at most {MAX_WILDCARDS} wildcards"));
        }
        Ok(Self {
            raw: raw.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn is_exact(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The literal text before the first wildcard.
    fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }

    /// Whether `value` matches as a whole.
    pub fn matches(&self, value: &str) -> bool {
        match_from(&self.parts, value)
    }
}

fn match_from(parts: &[Part], value: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return value.is_empty();
    };
    match first {
        Part::Literal(text) => value
            .strip_prefix(text.as_str())
            .is_some_and(|tail| match_from(rest, tail)),
        Part::Segment | Part::Any => {
            // Try every split point, shortest first; `*` stops at a separator.
            for (index, c) in value.char_indices() {
                if match_from(rest, &value[index..]) {
                    return true;
                }
                if matches!(first, Part::Segment) && (c == '/' || c == ':') {
                    return false;
                }
            }
            match_from(rest, "")
        }
    }
}

/// A policy's bound claims, by claim name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundClaims(BTreeMap<String, ClaimPattern>);

/// Why a verified token's claims do not satisfy a policy: the claim's *name* only (the value
/// came from the caller's token and is not repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimMismatch {
    Missing(String),
    Different(String),
}

impl std::fmt::Display for ClaimMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimMismatch::Missing(name) => write!(f, "the token has no '{name}' claim"),
            ClaimMismatch::Different(name) => {
                write!(f, "claim '{name}' does not match the policy")
            }
        }
    }
}

impl BoundClaims {
    /// Parses the policy's `bound_claims` object; each error names its claim. Refuses a set
    /// that does not anchor the identity (see the module docs).
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut claims = BTreeMap::new();
        if raw.len() > MAX_BOUND_CLAIMS {
            errors.push((
                String::new(),
                format!("at most {MAX_BOUND_CLAIMS} bound claims"),
            ));
        }
        for (name, pattern) in raw {
            if !valid_claim_name(name) {
                errors.push((
                    String::new(),
                    "claim names are 1-64 characters of letters, digits and '_'".into(),
                ));
                continue;
            }
            if matches!(name.as_str(), "iss" | "aud" | "exp" | "nbf" | "iat" | "jti") {
                errors.push((
                    name.clone(),
                    "is checked by the policy's issuer, audiences and token validation; do not bind it".into(),
                ));
                continue;
            }
            match ClaimPattern::parse(pattern) {
                Ok(parsed) => {
                    claims.insert(name.clone(), parsed);
                }
                Err(message) => errors.push((name.clone(), message)),
            }
        }
        let bound = Self(claims);
        if errors.is_empty() && !bound.anchors_identity() {
            errors.push((
                String::new(),
                format!(
                    "must bind the identity: `sub` to a value naming at least an owner (a literal `/` before any wildcard), or one of {} to an exact value; a policy bound only to the issuer accepts every repository on it",
                    IMMUTABLE_ID_CLAIMS.join(", ")
                ),
            ));
        }
        if errors.is_empty() {
            Ok(bound)
        } else {
            Err(errors)
        }
    }

    fn anchors_identity(&self) -> bool {
        let id_bound = IMMUTABLE_ID_CLAIMS.iter().any(|name| {
            self.0
                .get(*name)
                .is_some_and(|pattern| pattern.is_exact() && !pattern.as_str().trim().is_empty())
        });
        let subject_bound = self
            .0
            .get("sub")
            .is_some_and(|pattern| pattern.is_exact() || pattern.literal_prefix().contains('/'));
        id_bound || subject_bound
    }

    /// Checks every bound claim against the token's claims. Strings compare as they are;
    /// numbers and booleans by their JSON text (`123`, `true`), since issuers differ in which
    /// they send; anything else never matches.
    pub fn check(&self, claims: &serde_json::Map<String, Value>) -> Result<(), ClaimMismatch> {
        for (name, pattern) in &self.0 {
            let text = match claims.get(name) {
                None | Some(Value::Null) => return Err(ClaimMismatch::Missing(name.clone())),
                Some(Value::String(text)) => std::borrow::Cow::Borrowed(text.as_str()),
                Some(value @ (Value::Number(_) | Value::Bool(_))) => {
                    std::borrow::Cow::Owned(value.to_string())
                }
                Some(_) => return Err(ClaimMismatch::Different(name.clone())),
            };
            if !pattern.matches(&text) {
                return Err(ClaimMismatch::Different(name.clone()));
            }
        }
        Ok(())
    }

    /// As stored and shown: claim name to pattern.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(name, pattern)| (name.clone(), pattern.as_str().to_owned()))
            .collect()
    }
}

fn valid_claim_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pattern(raw: &str) -> ClaimPattern {
        ClaimPattern::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn exact_patterns_match_only_the_whole_value() {
        let p = pattern("org/app");
        assert!(p.matches("org/app"));
        assert!(!p.matches("org/app-evil"));
        assert!(!p.matches("org/ap"));
        assert!(!p.matches("xorg/app"));
    }

    #[test]
    fn a_single_star_stays_within_one_segment() {
        let p = pattern("repo:org/app:ref:refs/heads/*");
        assert!(p.matches("repo:org/app:ref:refs/heads/main"));
        assert!(!p.matches("repo:org/app:ref:refs/heads/feature/x"));
        // Meant for org/app, written carelessly: still cannot cross into another repository's
        // subject, because `*` stops at `:`.
        let careless = pattern("repo:org/app*");
        assert!(!careless.matches("repo:org/app-evil:ref:refs/heads/main"));
        assert!(!careless.matches("repo:org/app:ref:refs/heads/main"));
    }

    #[test]
    fn a_double_star_crosses_segments_but_not_a_literal_boundary() {
        let p = pattern("repo:org/app:**");
        assert!(p.matches("repo:org/app:ref:refs/heads/main"));
        assert!(p.matches("repo:org/app:environment:production"));
        assert!(!p.matches("repo:org/app-evil:ref:refs/heads/main"));
        assert!(!p.matches("repo:org/app"));
    }

    #[test]
    fn patterns_refuse_triple_stars_and_too_many_wildcards() {
        assert!(ClaimPattern::parse("***").is_err());
        assert!(ClaimPattern::parse(&"a*".repeat(9)).is_err());
        assert!(ClaimPattern::parse("").is_err());
    }

    fn bound(pairs: &[(&str, &str)]) -> Result<BoundClaims, Vec<(String, String)>> {
        BoundClaims::parse(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_policy_must_anchor_the_identity() {
        assert!(bound(&[]).is_err());
        assert!(bound(&[("ref", "refs/heads/main")]).is_err());
        assert!(bound(&[("sub", "**")]).is_err());
        assert!(bound(&[("sub", "repo:*")]).is_err());
        assert!(bound(&[("repository_id", "1*")]).is_err());
        assert!(bound(&[("sub", "repo:org/**")]).is_ok());
        assert!(bound(&[("repository_id", "123"), ("ref", "refs/heads/*")]).is_ok());
        assert!(bound(&[("project_id", "42")]).is_ok());
        assert!(bound(&[("aud", "x"), ("project_id", "42")]).is_err());
    }

    #[test]
    fn numbers_and_booleans_match_by_their_json_text() {
        let claims = bound(&[("project_id", "42"), ("ref_protected", "true")]).unwrap();
        let token = json!({ "project_id": 42, "ref_protected": true });
        assert_eq!(claims.check(token.as_object().unwrap()), Ok(()));
        let token = json!({ "project_id": "42", "ref_protected": "false" });
        assert_eq!(
            claims.check(token.as_object().unwrap()),
            Err(ClaimMismatch::Different("ref_protected".into()))
        );
        let token = json!({ "ref_protected": "true" });
        assert_eq!(
            claims.check(token.as_object().unwrap()),
            Err(ClaimMismatch::Missing("project_id".into()))
        );
    }
}
