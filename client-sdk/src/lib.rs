//! The Switchboard client: fetches an environment's snapshot, keeps it current, and evaluates
//! flags locally with the same evaluator as the server (`switchboard-core`).
//!
//! An application links this crate, builds one [`Client`] at start-up and shares it. Every
//! getter answers from memory in tens of nanoseconds, never blocks, never fails and never takes
//! the application down: when it has no answer it returns the caller's default, and the
//! `*_details` variants say why.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use switchboard_client::{Client, Context, KillList};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Follows changes through the server's event stream (polling while it is down).
//!     let client = Client::builder("http://127.0.0.1:8080", std::env::var("SWITCHBOARD_TOKEN")?)
//!         // Start with real values even if the server is down: a saved snapshot...
//!         .bootstrap_file("flags.json")
//!         // ...and the last one this process saw, kept up to date on disk.
//!         .persist_to("/var/cache/myapp/switchboard.json")
//!         .build()?;
//!
//!     // Wait a bounded time for the server; carry on regardless (defaults or bootstrap).
//!     if let Err(not_ready) = client.wait_ready(Duration::from_secs(2)).await {
//!         eprintln!("{not_ready}");
//!     }
//!
//!     let user = Context::with_targeting_key("user-42").with("plan", "pro");
//!     if client.bool_value("new-checkout", &user, false) {
//!         // the new checkout
//!     }
//!     let details = client.string_details("banner-color", &user, "grey");
//!     println!("{} ({:?}, reason {:?})", details.value, details.variant, details.reason);
//!
//!     // Config entries of the environment, typed.
//!     let max_items = client.config_i64("max_items", 20);
//!
//!     // React to changes pushed by operators.
//!     client.on_flag_change("new-checkout", |change| {
//!         println!("new-checkout changed in revision {}", change.revision);
//!     });
//!
//!     // Something is wrong and the server cannot help: force the safe default here.
//!     client.kill("new-checkout");
//!     assert!(!client.bool_value("new-checkout", &user, false));
//!     client.revive("new-checkout");
//!
//!     // Secrets: fetched only when asked, audited by the server, wiped from memory on drop.
//!     // (Needs `secrets:read`; `.secrets_token(…)` on the builder keeps it off the SDK token.)
//!     let secrets = client.fetch_secrets().await?;
//!     if let Some(password) = secrets.get("DB_PASSWORD") {
//!         connect_to_the_database(password.expose());
//!     }
//!     # let _ = (max_items, KillList::none());
//!     Ok(())
//! }
//! # fn connect_to_the_database(_: &str) {}
//! ```
//!
//! Offline (no server, no runtime), e.g. in a test of the application:
//!
//! ```
//! use switchboard_client::{Client, Context, ErrorCode, Reason, Snapshot};
//!
//! let snapshot: Snapshot = serde_json::from_str(r#"{
//!   "format_version": 1, "project": "shop", "environment": "test", "revision": 1,
//!   "flags": [{"key": "new-checkout", "type": "boolean",
//!              "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
//!              "state": {"enabled": true, "default_serve": {"variant": "on"},
//!                        "off_variant": "off"}}]
//! }"#)?;
//! let client = Client::builder("http://unused", "unused")
//!     .bootstrap(snapshot)
//!     .kill_list(Default::default()) // ignore SWITCHBOARD_KILL in this test
//!     .offline()
//!     .build()?;
//! let anyone = Context::with_targeting_key("user-1");
//!
//! assert!(client.bool_value("new-checkout", &anyone, false));
//! let unknown = client.bool_details("no-such-flag", &anyone, true);
//! assert_eq!((unknown.value, unknown.reason), (true, Reason::Error));
//! assert_eq!(unknown.error_code, Some(ErrorCode::FlagNotFound));
//!
//! client.kill_all();
//! let killed = client.bool_details("new-checkout", &anyone, false);
//! assert_eq!((killed.value, killed.reason), (false, Reason::Disabled));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - `builder`: [`ClientBuilder`] — options, and `build()`, which loads the bootstrap and
//!   persisted snapshots and starts the refresh task.
//! - `client`: [`Client`] — the cloneable handle: getters, kill switch, listeners, readiness.
//! - `view`: [`View`] — evaluation against one snapshot (kill switch, then the evaluator); every
//!   getter goes through it, and [`Client::with_view`] hands one to the caller.
//! - `config`: typed getters over the snapshot's `config` map.
//! - `store`: the current snapshot behind an `ArcSwap` (lock-free reads, whole swaps) with a
//!   per-thread cache in front, and the revision rule; [`Change`] and [`Outcome`].
//! - `diff`: which flags and config keys a new snapshot changes, for listeners.
//! - `listeners`: registration and panic-proof dispatch of change listeners.
//! - `kill`: [`KillList`] (`SWITCHBOARD_KILL`) and the run-time kill switch.
//! - `files`: reading snapshot files; the atomic, owner-only write of the persisted one.
//! - `refresh`: the background task and its two transports. `refresh::stream` follows
//!   `/v1/sdk/stream` (parsed by `refresh::events`) and polls while the stream is down;
//!   `refresh::poll` polls; `refresh::http` makes the conditional snapshot request;
//!   `refresh::backoff` the jittered delays.
//! - `secrets`: [`Client::fetch_secrets`] and [`Client::fetch_secret`], [`SecretValue`].
//! - `status`: [`Status`], [`Source`], [`NotReady`]. `details`: [`Details`], [`ErrorCode`].
//! - `error`: the error policy and types. `openfeature` (feature `openfeature`): the provider.
//!
//! # Semantics
//!
//! - **Evaluation order**: a flag killed on this client → the caller's default, reason
//!   `DISABLED`; no snapshot yet → the default, reason `ERROR`, code `PROVIDER_NOT_READY`;
//!   otherwise the shared evaluator (`switchboard_core`'s documentation): unknown flag →
//!   `FLAG_NOT_FOUND`, wrong type → `TYPE_MISMATCH`, both with the caller's default.
//! - **Kill switch**: `SWITCHBOARD_KILL=flag_a,flag_b` (or `*`) is read once by `build()`
//!   unless [`ClientBuilder::kill_list`] was given. [`Client::kill`], [`Client::kill_all`],
//!   [`Client::revive`] and [`Client::revive_all`] act at once on every clone. Kills made on the
//!   server (a disabled flag, the environment's kill switch) arrive through the stream (or the
//!   next poll) and serve the flag's off variant.
//! - **Freshness** ([`RefreshMode`]): by default the client holds a server-sent-events stream
//!   (`/v1/sdk/stream`); each event names the environment's new revision and the client fetches
//!   that snapshot with `If-None-Match`. The stream is reopened with exponential backoff when it
//!   breaks or stays silent past [`ClientBuilder::stream_idle_timeout`] (or, when the server
//!   refuses it with `Retry-After`, e.g. at its stream limit, not before that), and the client
//!   polls every poll interval (±10 %) meanwhile; every (re)connection starts with the current
//!   revision, so nothing is missed. [`RefreshMode::Polling`] polls only. When the server is
//!   down the last good snapshot keeps being served. A snapshot with a lower revision than the
//!   one held is ignored; equal revisions are not re-applied.
//! - **Secrets** are not in the snapshot and are never cached or persisted: each
//!   [`Client::fetch_secrets`] is a request the server audits; values come in [`SecretValue`]
//!   (zeroized on drop, `***` in `Debug`).
//! - **Start-up**: `build()` serves the newer of the bootstrap and persisted snapshots at once,
//!   then the refresh task asks the server. [`Client::wait_ready`] waits for that first answer.
//! - **Listeners** run after the swap on the thread that applied the snapshot, outside any lock;
//!   a panicking listener is logged and skipped.
//! - **Cost**: `bool_value` on a 50 % rollout is a few tens of nanoseconds and allocates
//!   nothing (`benches/evaluate.rs`, `tests/no_alloc.rs`); string and JSON getters copy the
//!   value, [`Client::with_view`] borrows it instead. Each thread keeps the snapshot it read
//!   last, so an old snapshot is freed once every thread that used it has read again (or ended).

mod builder;
mod client;
mod config;
mod details;
mod diff;
mod error;
mod files;
mod kill;
mod listeners;
#[cfg(feature = "openfeature")]
pub mod openfeature;
mod refresh;
mod secrets;
mod shared;
mod status;
mod store;
mod view;

pub use builder::{
    ClientBuilder, DEFAULT_POLL_INTERVAL, DEFAULT_STREAM_IDLE_TIMEOUT, MIN_POLL_INTERVAL,
    RefreshMode,
};
pub use client::Client;
pub use details::{Details, ErrorCode};
pub use error::{BuildError, ConfigError, RefreshError, SnapshotFileError};
pub use kill::{KILL_ENV_VAR, KillList};
pub use listeners::ListenerId;
pub use secrets::{SecretValue, Secrets, SecretsError};
pub use status::{NotReady, Source, Status};
pub use store::{Change, Outcome};
pub use view::View;

/// The evaluation context, reason and snapshot types, re-exported so that applications need
/// not depend on `switchboard-core` themselves.
pub use switchboard_core::{Context, Reason, Snapshot};
