//! Typed getters over the snapshot's `config` map (the environment's resolved configuration).
//!
//! Like flag getters, the simple ones never fail: a missing entry, a value of another JSON
//! type, or no snapshot yet gives the caller's default. [`Client::config`] deserializes into any
//! type and reports a mismatch, because for a structured value the caller usually wants to know.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::ConfigError;

impl Client {
    /// A config entry as JSON; `None` if absent or there is no snapshot yet.
    pub fn config_value(&self, key: &str) -> Option<Value> {
        self.with_view(|v| v.config(key).cloned())
    }

    /// A string entry, or `default` (also for a non-string value).
    pub fn config_str(&self, key: &str, default: &str) -> String {
        self.with_view(|v| {
            v.config(key)
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_owned()
        })
    }

    /// A boolean entry, or `default`.
    pub fn config_bool(&self, key: &str, default: bool) -> bool {
        self.with_view(|v| v.config(key).and_then(Value::as_bool).unwrap_or(default))
    }

    /// An integer entry, or `default` (also for a number with a fraction, or out of range).
    pub fn config_i64(&self, key: &str, default: i64) -> i64 {
        self.with_view(|v| v.config(key).and_then(Value::as_i64).unwrap_or(default))
    }

    /// A numeric entry, or `default`.
    pub fn config_f64(&self, key: &str, default: f64) -> f64 {
        self.with_view(|v| v.config(key).and_then(Value::as_f64).unwrap_or(default))
    }

    /// A config entry deserialized into `T`: `Ok(None)` if absent (or no snapshot yet), `Err`
    /// if present but of another shape.
    ///
    /// ```no_run
    /// # fn f(client: &switchboard_client::Client) -> Result<(), switchboard_client::ConfigError> {
    /// #[derive(serde::Deserialize)]
    /// struct Limits { max_items: u32, burst: u32 }
    ///
    /// let limits: Option<Limits> = client.config("limits")?;
    /// # Ok(()) }
    /// ```
    pub fn config<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        self.with_view(|v| {
            let Some(value) = v.config(key) else {
                return Ok(None);
            };
            T::deserialize(value)
                .map(Some)
                .map_err(|source| ConfigError {
                    key: key.to_owned(),
                    source,
                })
        })
    }
}
