//! Validated domain values. Each is built only through `parse`/`TryFrom`, so code that holds
//! one never re-checks it ("parse, don't validate").

use std::fmt;

use serde::{Deserialize, Serialize};

/// A project or environment name: lowercase slug, 1–63 characters of `[a-z0-9-]`, starting
/// with a letter or digit and not ending with `-` (it appears in URLs and env-var exports).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

/// Why a string is not a valid [`Slug`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", InvalidSlug::SHAPE)]
pub struct InvalidSlug;

impl InvalidSlug {
    /// The shape a slug must have, as errors state it.
    pub const SHAPE: &'static str = "must be 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit and not ending with '-'";
}

impl Slug {
    pub fn parse(value: &str) -> Result<Self, InvalidSlug> {
        let bytes = value.as_bytes();
        let valid = (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidSlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        // The message names the rule, never the submitted text.
        Slug::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A config key or secret name: 1–128 characters of `[A-Za-z0-9_.-]`, starting with a letter or
/// `_`. Keys that are also valid environment-variable names (`[A-Za-z_][A-Za-z0-9_]*`) can be
/// exported as dotenv or shell lines; the others only as JSON.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ConfigKey(String);

/// Why a string is not a valid [`ConfigKey`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", InvalidConfigKey::SHAPE)]
pub struct InvalidConfigKey;

impl InvalidConfigKey {
    /// The shape a config key must have, as errors state it.
    pub const SHAPE: &'static str = "must be 1-128 characters of letters, digits, '_', '.' and '-', starting with a letter or '_'";
}

impl ConfigKey {
    pub fn parse(value: &str) -> Result<Self, InvalidConfigKey> {
        let bytes = value.as_bytes();
        let valid = (1..=128).contains(&bytes.len())
            && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidConfigKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the key can be an environment variable's name.
    pub fn is_env_var_name(&self) -> bool {
        self.0
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }

    /// The shape a key must have to be written: every key written is exported as an
    /// environment variable (`switchboard run`, dotenv, shell), so a name that cannot be one
    /// is refused when written, never dropped or renamed when exported. Keys stored before
    /// this rule can still be read, deleted and rolled back.
    pub const WRITABLE_SHAPE: &'static str = "must be an environment variable name: 1-128 characters of letters, digits and '_', starting with a letter or '_'";
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token may do. `admin` implies every other scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "flags:read")]
    FlagsRead,
    #[serde(rename = "flags:write")]
    FlagsWrite,
    #[serde(rename = "config:read")]
    ConfigRead,
    #[serde(rename = "config:write")]
    ConfigWrite,
    #[serde(rename = "secrets:read")]
    SecretsRead,
    #[serde(rename = "secrets:write")]
    SecretsWrite,
    #[serde(rename = "admin")]
    Admin,
    /// Evaluate flags marked client-visible, and nothing else: the key a browser or a mobile
    /// app holds, which anyone can read from it. Implied by `flags:read`.
    #[serde(rename = "flags:evaluate")]
    FlagsEvaluate,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::FlagsRead,
        Scope::FlagsWrite,
        Scope::ConfigRead,
        Scope::ConfigWrite,
        Scope::SecretsRead,
        Scope::SecretsWrite,
        Scope::Admin,
        Scope::FlagsEvaluate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::FlagsRead => "flags:read",
            Scope::FlagsWrite => "flags:write",
            Scope::ConfigRead => "config:read",
            Scope::ConfigWrite => "config:write",
            Scope::SecretsRead => "secrets:read",
            Scope::SecretsWrite => "secrets:write",
            Scope::Admin => "admin",
            Scope::FlagsEvaluate => "flags:evaluate",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes, as a bit set so that checking one is a single AND on the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn from_scopes(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether a holder of this set may act with `scope` (`admin` grants everything,
    /// `flags:read` grants `flags:evaluate`).
    pub fn allows(self, scope: Scope) -> bool {
        let implied_by = match scope {
            Scope::FlagsEvaluate => Scope::FlagsRead.bit(),
            _ => 0,
        };
        self.0 & (scope.bit() | implied_by | Scope::Admin.bit()) != 0
    }

    /// Whether every scope of `other` is allowed by this set.
    pub fn covers(self, other: ScopeSet) -> bool {
        other.iter().all(|s| self.allows(s))
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |s| self.0 & s.bit() != 0)
    }
}

/// The projects (or environments) a token may touch: all of them, or the named ones.
/// Stored and shown as `["*"]` or a list of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    All,
    Only(Vec<Slug>),
}

impl Access {
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Access::All => true,
            Access::Only(names) => names.iter().any(|n| n.as_str() == name),
        }
    }

    /// Whether everything `other` grants is granted here.
    pub fn covers(&self, other: &Access) -> bool {
        match (self, other) {
            (Access::All, _) => true,
            (Access::Only(_), Access::All) => false,
            (Access::Only(_), Access::Only(names)) => names.iter().all(|n| self.allows(n.as_str())),
        }
    }

    pub fn to_names(&self) -> Vec<String> {
        match self {
            Access::All => vec!["*".to_owned()],
            Access::Only(names) => names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Parses `["*"]` or a list of slugs; the error names the offending entry.
    pub fn from_names(names: &[String]) -> Result<Self, String> {
        if names.iter().any(|n| n == "*") {
            return if names.len() == 1 {
                Ok(Access::All)
            } else {
                Err("\"*\" cannot be combined with names".to_owned())
            };
        }
        if names.is_empty() {
            return Err("must name at least one entry, or [\"*\"] for all".to_owned());
        }
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Slug::parse(n).map_err(|e| format!("[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Access::Only)
    }
}

/// Formats a stored timestamp as RFC 3339 for the API.
pub fn format_micros(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// One invalid field of a request. Defined here (re-exported by `error`) so that modules the
/// error mapping depends on can report problems too.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// JSON-path-like pointer, e.g. `body.scopes[1]` or `query.limit`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_the_usual_names_and_refuse_the_rest() {
        for good in ["production", "eu-west-1", "a", "0day"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(64);
        for bad in ["", "Prod", "-x", "x-", "a_b", "a b", "ä", too_long.as_str()] {
            assert_eq!(Slug::parse(bad), Err(InvalidSlug), "{bad}");
        }
    }

    #[test]
    fn config_keys_accept_dotted_names_and_know_which_are_env_var_names() {
        for good in ["DATABASE_URL", "_private", "feature.limit", "a-b", "x"] {
            assert!(ConfigKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1ABC", "-x", "a b", "a$b", "é"] {
            assert_eq!(ConfigKey::parse(bad), Err(InvalidConfigKey), "{bad}");
        }
        assert!(ConfigKey::parse("DATABASE_URL").unwrap().is_env_var_name());
        assert!(!ConfigKey::parse("feature.limit").unwrap().is_env_var_name());
    }

    #[test]
    fn admin_allows_every_scope_and_others_only_themselves() {
        let admin = ScopeSet::from_scopes(&[Scope::Admin]);
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        let reader = ScopeSet::from_scopes(&[Scope::FlagsRead]);
        assert!(reader.allows(Scope::FlagsRead));
        assert!(!reader.allows(Scope::FlagsWrite));
        assert!(!reader.allows(Scope::Admin));
        assert!(admin.covers(reader));
        assert!(!reader.covers(admin));
    }

    #[test]
    fn flags_read_implies_flags_evaluate_and_not_the_reverse() {
        let reader = ScopeSet::from_scopes(&[Scope::FlagsRead]);
        let client = ScopeSet::from_scopes(&[Scope::FlagsEvaluate]);
        assert!(reader.allows(Scope::FlagsEvaluate));
        assert!(client.allows(Scope::FlagsEvaluate));
        assert!(!client.allows(Scope::FlagsRead));
        assert!(reader.covers(client));
        assert!(!client.covers(reader));
    }

    #[test]
    fn access_lists_cover_only_their_subsets() {
        let all = Access::All;
        let shop = Access::from_names(&["shop".into()]).unwrap();
        let two = Access::from_names(&["shop".into(), "blog".into()]).unwrap();
        assert!(all.covers(&two) && two.covers(&shop) && !shop.covers(&two) && !shop.covers(&all));
        assert!(Access::from_names(&["*".into(), "x".into()]).is_err());
        assert!(Access::from_names(&[]).is_err());
        assert!(
            Access::from_names(&["Bad".into()])
                .unwrap_err()
                .contains("[0]")
        );
    }
}
