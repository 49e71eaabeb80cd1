//! Outgoing webhooks: every audited change of a project, delivered to the endpoints its admins
//! registered, signed as the Standard Webhooks convention describes
//! (<https://www.standardwebhooks.com/>), so receivers verify them with any of its libraries.
//!
//! # How a change becomes a request
//! 1. The store appends the change's audit event (`store::audit::append`); in the same
//!    transaction `store::webhook_deliveries::enqueue` inserts one delivery per enabled endpoint
//!    of the project whose event filter matches. No handler calls anything: a change is
//!    delivered if and only if it committed, exactly once per endpoint. Secret *reads* are
//!    audited but are not changes, and are not delivered.
//! 2. Every instance runs a worker (`crate::webhook_delivery`) that looks for due deliveries, claims each with a lease
//!    (an `UPDATE … WHERE claimed_until < now` that only one instance can win, on SQLite and
//!    PostgreSQL alike), sends it, and records the attempt. A failed attempt is retried with
//!    exponential backoff and jitter within the retry window (24 h by default); an instance that
//!    dies mid-send loses its claim when the lease ends and another one takes over.
//! 3. The body is built from the audit row at send time (`webhook_delivery::payload`): the
//!    event as the audit log shows it, whose before/after never carry a secret value or a token.
//!
//! # Layout
//! This module is pure (no store, no clock): the store keeps its values, the delivery loop
//! (`crate::webhook_delivery`, which depends on the store) uses them.
//! - this file: the endpoint's validated values (URL, event filter, format, signing secret);
//! - [`signature`]: the `webhook-signature` header (HMAC-SHA256 over `id.timestamp.body`);
//! - [`address`]: which addresses a webhook may reach (SSRF defence) and the resolver that
//!   enforces it on every connection.

pub mod address;
pub mod signature;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Longest URL accepted.
const MAX_URL: usize = 2_048;
/// Most patterns in an endpoint's event filter.
const MAX_PATTERNS: usize = 32;

/// Where an endpoint's deliveries go: `https://` (or `http://` where the settings allow it),
/// with a host, without credentials (the URL is shown in listings and logs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

/// What [`EndpointUrl::parse`] needs from the settings.
#[derive(Clone, Copy, Debug)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub deny_private: bool,
}

impl EndpointUrl {
    /// Checks `raw`; the error states the rule broken, never the URL (it may carry a token).
    pub fn parse(raw: &str, policy: UrlPolicy) -> Result<Self, &'static str> {
        if raw.len() > MAX_URL {
            return Err("must be at most 2048 characters");
        }
        let url = reqwest::Url::parse(raw).map_err(|_| "must be an absolute URL")?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            "http" => return Err("must use https (http is refused by this server's settings)"),
            _ => return Err("must be an https URL"),
        }
        let Some(host) = url.host() else {
            return Err("must name a host");
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials; put them in the path or query instead");
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment");
        }
        if policy.deny_private {
            let literal = match host {
                url::Host::Ipv4(ip) => Some(std::net::IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => Some(std::net::IpAddr::V6(ip)),
                url::Host::Domain(name) if name.eq_ignore_ascii_case("localhost") => {
                    return Err("must not point at this host (private addresses are refused)");
                }
                url::Host::Domain(_) => None,
            };
            if literal.is_some_and(address::is_private) {
                return Err(
                    "must not point at a private address (refused by this server's settings)",
                );
            }
        }
        Ok(Self(url.to_string()))
    }

    /// A value read back from the database (checked when it was stored).
    pub(crate) fn stored(url: String) -> Self {
        Self(url)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which audited actions an endpoint receives: `*` (all), an exact action (`flag.enable`) or a
/// prefix ending in `.*` (`flag.*`, `secret.*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    pub const SHAPE: &'static str = "must be 1-32 patterns, each '*', an action such as 'flag.enable' or a prefix such as 'flag.*'";

    pub fn parse(patterns: &[String]) -> Result<Self, &'static str> {
        if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
            return Err(Self::SHAPE);
        }
        let valid = |pattern: &str| {
            if pattern == "*" {
                return true;
            }
            let name = pattern.strip_suffix(".*").unwrap_or(pattern);
            (1..=64).contains(&name.len())
                && name.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                })
        };
        if patterns.iter().all(|p| valid(p)) {
            Ok(Self(patterns.to_vec()))
        } else {
            Err(Self::SHAPE)
        }
    }

    /// Everything.
    pub fn all() -> Self {
        Self(vec!["*".to_owned()])
    }

    /// A filter read back from the database; an unreadable one matches nothing.
    pub(crate) fn stored(json: &str) -> Self {
        Self(serde_json::from_str(json).unwrap_or_default())
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".into())
    }

    /// Whether `action` passes the filter.
    pub fn matches(&self, action: &str) -> bool {
        self.0.iter().any(|pattern| {
            pattern == "*"
                || pattern == action
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| action.starts_with(prefix))
        })
    }
}

/// The body's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"type", "timestamp", "data"}` as the Standard Webhooks convention suggests.
    #[default]
    Standard,
    /// `{"text": …}`: what a Slack (or Mattermost, Rocket.Chat) incoming webhook posts.
    Slack,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }

    pub(crate) fn stored(text: &str) -> Self {
        match text {
            "slack" => Format::Slack,
            _ => Format::Standard,
        }
    }
}

/// An endpoint's signing secret: 32 random bytes, shown once as `whsec_` + base64; zeroized.
pub struct SigningSecret(Zeroizing<[u8; 32]>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// From the decrypted bytes; `None` unless they are 32.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `whsec_` + base64: the form the Standard Webhooks libraries take.
    pub fn reveal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("whsec_{}", STANDARD.encode(self.0.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_http: false,
        deny_private: true,
    };

    #[test]
    fn only_https_urls_to_public_hosts_pass_the_strict_policy() {
        assert!(EndpointUrl::parse("https://hooks.example.com/in?x=1", STRICT).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/",
            "https://localhost/",
            "not a url",
        ] {
            let error = EndpointUrl::parse(bad, STRICT).unwrap_err();
            assert!(!error.contains(bad), "{error}");
        }
        let lax = UrlPolicy {
            allow_http: true,
            deny_private: false,
        };
        assert!(EndpointUrl::parse("http://127.0.0.1:9/hook", lax).is_ok());
    }

    #[test]
    fn filters_match_exact_actions_prefixes_and_everything() {
        let filter = EventFilter::parse(&["flag.*".into(), "secret.write".into()]).unwrap();
        assert!(filter.matches("flag.enable"));
        assert!(filter.matches("flag.state.update"));
        assert!(filter.matches("secret.write"));
        assert!(!filter.matches("secret.delete"));
        assert!(!filter.matches("flags.enable"));
        assert!(EventFilter::all().matches("token.issue"));
        assert!(EventFilter::parse(&[]).is_err());
        assert!(EventFilter::parse(&["Flag.*".into()]).is_err());
        assert!(EventFilter::parse(&["flag*".into()]).is_err());
    }

    #[test]
    fn a_secret_reveals_in_the_standard_webhooks_form() {
        let secret = SigningSecret::generate();
        let shown = secret.reveal();
        assert!(shown.starts_with("whsec_"));
        let decoded = STANDARD.decode(&shown["whsec_".len()..]).unwrap();
        assert_eq!(decoded, secret.bytes());
        assert_eq!(format!("{secret:?}"), "SigningSecret(***)");
    }
}
