//! Evaluation against one snapshot: the kill switch first, then the shared evaluator.
//!
//! Every [`crate::Client`] getter goes through a [`View`]; callers take one themselves (with
//! [`crate::Client::with_view`]) to evaluate several flags against the *same* revision, or to
//! borrow string and JSON values instead of copying them.

use serde_json::Value;
use switchboard_core::{CompiledSnapshot, Context};

use crate::details::Details;
use crate::kill::KillSwitch;
use crate::store::Loaded;

/// The client's current snapshot, held still: every evaluation through one view sees the same
/// revision, however many updates arrive meanwhile. The kill switch is read live, not frozen
/// with the snapshot.
#[derive(Clone, Copy)]
pub struct View<'a> {
    loaded: Option<&'a Loaded>,
    kills: &'a KillSwitch,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

/// Why an evaluation answers the caller's default before looking at any flag.
#[derive(Debug, Clone, Copy)]
enum Fallback {
    Killed,
    NotReady,
}

impl Fallback {
    fn details<T>(self, default: T) -> Details<T> {
        match self {
            Fallback::Killed => Details::killed(default),
            Fallback::NotReady => Details::not_ready(default),
        }
    }
}

impl<'a> View<'a> {
    pub(crate) fn new(loaded: Option<&'a Loaded>, kills: &'a KillSwitch) -> Self {
        Self { loaded, kills }
    }

    /// The snapshot to evaluate `key` against, unless the flag is killed or there is none.
    #[inline]
    fn compiled(&self, key: &str) -> Result<&'a CompiledSnapshot, Fallback> {
        if self.kills.is_killed(key) {
            return Err(Fallback::Killed);
        }
        match self.loaded {
            Some(loaded) => Ok(&loaded.compiled),
            None => Err(Fallback::NotReady),
        }
    }

    /// The revision of this view's snapshot; `None` if the client has none yet.
    pub fn revision(&self) -> Option<u64> {
        self.loaded.map(|l| l.compiled.revision())
    }

    /// The flag keys of this view's snapshot, in snapshot order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.loaded.into_iter().flat_map(|l| l.compiled.flag_keys())
    }

    /// Whether `key` is killed on this client (by name or by `kill_all`).
    pub fn is_killed(&self, key: &str) -> bool {
        self.kills.is_killed(key)
    }

    /// A resolved config entry, borrowed from the snapshot.
    pub fn config(&self, key: &str) -> Option<&'a Value> {
        self.loaded?.compiled.config().get(key)
    }

    /// The boolean value of flag `key` for `ctx`, or `default` (see [`crate::Client::bool_value`]).
    #[inline]
    pub fn bool_value(&self, key: &str, ctx: &Context, default: bool) -> bool {
        match self.compiled(key) {
            Ok(flags) => flags.bool_value(key, ctx, default),
            Err(_) => default,
        }
    }

    /// The string value of flag `key`, borrowed from the snapshot, or `default`.
    pub fn string_value<'r>(&self, key: &str, ctx: &Context, default: &'r str) -> &'r str
    where
        'a: 'r,
    {
        match self.compiled(key) {
            Ok(flags) => flags.string_value(key, ctx, default),
            Err(_) => default,
        }
    }

    /// The numeric value of flag `key`, or `default`.
    pub fn number_value(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        match self.compiled(key) {
            Ok(flags) => flags.number_value(key, ctx, default),
            Err(_) => default,
        }
    }

    /// The value of number flag `key` as an integer, or `default` (also when the served
    /// number has a fraction: `TYPE_MISMATCH`).
    pub fn integer_value(&self, key: &str, ctx: &Context, default: i64) -> i64 {
        match self.compiled(key) {
            Ok(flags) => flags.integer_value(key, ctx, default),
            Err(_) => default,
        }
    }

    /// The JSON value of `json` flag `key`, borrowed from the snapshot, or `default`.
    pub fn json_value<'r>(&self, key: &str, ctx: &Context, default: &'r Value) -> &'r Value
    where
        'a: 'r,
    {
        match self.compiled(key) {
            Ok(flags) => flags.json_value(key, ctx, default),
            Err(_) => default,
        }
    }

    pub fn bool_details(&self, key: &str, ctx: &Context, default: bool) -> Details<bool> {
        match self.compiled(key) {
            Ok(flags) => Details::from_core(flags.bool_details(key, ctx, default), |v| v),
            Err(fallback) => fallback.details(default),
        }
    }

    pub fn string_details(&self, key: &str, ctx: &Context, default: &str) -> Details<String> {
        match self.compiled(key) {
            Ok(flags) => Details::from_core(flags.string_details(key, ctx, default), str::to_owned),
            Err(fallback) => fallback.details(default.to_owned()),
        }
    }

    pub fn number_details(&self, key: &str, ctx: &Context, default: f64) -> Details<f64> {
        match self.compiled(key) {
            Ok(flags) => Details::from_core(flags.number_details(key, ctx, default), |v| v),
            Err(fallback) => fallback.details(default),
        }
    }

    pub fn integer_details(&self, key: &str, ctx: &Context, default: i64) -> Details<i64> {
        match self.compiled(key) {
            Ok(flags) => Details::from_core(flags.integer_details(key, ctx, default), |v| v),
            Err(fallback) => fallback.details(default),
        }
    }

    pub fn json_details(&self, key: &str, ctx: &Context, default: &Value) -> Details<Value> {
        match self.compiled(key) {
            Ok(flags) => Details::from_core(flags.json_details(key, ctx, default), Value::clone),
            Err(fallback) => fallback.details(default.clone()),
        }
    }
}
