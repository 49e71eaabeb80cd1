//! Switchboard's server: feature flags, per-environment configuration and encrypted secrets behind
//! one REST API (`openapi.yaml` at the repository root is the contract).
//!
//! # Layout
//! - [`cli`]: the `switchboard` command line (`serve`, `migrate`, `bootstrap-token`,
//!   `healthcheck`; [`healthcheck`] is the probe containers run).
//!   The client commands of the same binary (`run`, `flags`, `config`, `secrets`, `tokens`,
//!   `audit`, …) live in the `switchboard-cli` crate (`cli/`), which talks to a server over its
//!   REST API only; the binary (`main.rs`) joins the two, this library never uses it.
//! - [`settings`]: every setting defined once (flag, environment variable, config-file key).
//! - [`startup`]: builds an [`startup::Application`] that knows its port and runs until stopped;
//!   tests build one on port 0 and drive it over real HTTP.
//! - [`store`]: the database behind one `sqlx` `Any` pool (SQLite by default, PostgreSQL in
//!   production); one module per resource, every write recorded in the audit log in the same
//!   transaction.
//! - [`local_files`]: the data directory and its files, private to the service's account.
//! - [`keys`]: the master keyring and the envelope used to keep server keys encrypted at rest.
//! - [`secrets`]: envelope encryption of secret values and the zeroizing wrapper they live in.
//! - [`secret_integrity`]: the tags that bind secrets' current versions and lists (rollback
//!   detection).
//! - [`auth`]: JWT issuing and verification, the verified-token cache, and the extractor that
//!   turns a request into a typed, authorized [`auth::Principal`].
//! - [`snapshots`]: the in-memory cache of environments' SDK snapshots (compiled, serialized and
//!   gzipped once per change), kept current by the post-commit step of writes, the Redis bus
//!   between instances and a revision poller; one small file per job under `snapshots/`.
//! - [`shutdown`]: the signal that stops the background loops at shutdown, and their join.
//! - [`draining`]: the graceful drain at SIGTERM: stop accepting, streams told to reconnect
//!   elsewhere, in-flight requests finished within the shutdown timeout.
//! - [`changes`]: the one post-commit step (snapshot reload and bus announcement) writes go through.
//! - [`api`]: HTTP handlers, one module per resource, each mounting its own routes (OFREP,
//!   OpenFeature's remote evaluation protocol, in `api/ofrep.rs`; CORS for the evaluation routes
//!   in [`api::cors`]).
//! - [`delivery`]: release plans, guards and scheduled changes (pure types and guard checks).
//! - [`scheduler`]: the background loop that runs plans and scheduled changes once across
//!   instances (a lease, and a compare-and-set per transition).
//! - [`console`]: the operator console at `/ui`, server-rendered pages over the same shared
//!   functions as the API's handlers, signed in with a token.
//! - [`error`]: the one place where failures become `application/problem+json`.
//! - [`export`]: config and secrets rendered as JSON, dotenv or shell lines for pipelines.
//! - [`telemetry`]: tracing (JSON logs, OTLP export) and Prometheus metrics.
//! - [`state`]: [`state::AppState`], what every handler can reach.
//! - [`redis_connection`]: the optional Redis connection (`REDIS_URL`), its keys and channels
//!   under one prefix.
//! - [`rate_limit`]: the per-token token buckets of the OFREP routes.
//! - [`readiness`]: what `/readyz` reports, checked in the background: ready once started,
//!   a dependency that is down reported without taking the instance out of service.
//! - [`starting`]: start-up while the database is unreachable: retries with backoff while a
//!   placeholder answers probes (`/healthz` 200, `/readyz` 503).
//! - [`oidc`]: keyless pipelines: trust policies and RFC 8693 token exchange of CI jobs' OIDC
//!   identity tokens (issuers' keys fetched over HTTPS and cached).
//! - [`open_files`]: the open-files limit `serve` raises at start (connections and streams).
//! - [`webhooks`]: signed webhooks for every audited change, the pure part: the endpoint's
//!   values, the signature, the SSRF guard (the outbox is in `store::webhook_deliveries`).
//! - [`webhook_delivery`]: the loop every instance runs to send due deliveries under a lease,
//!   and the bodies it sends.

pub mod api;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod console;
pub mod delivery;
pub mod domain;
pub mod draining;
pub mod error;
pub mod export;
pub mod healthcheck;
pub mod keys;
pub mod local_files;
pub mod oidc;
pub mod open_files;
pub mod rate_limit;
pub mod readiness;
pub mod redis_connection;
pub mod scheduler;
pub mod secret_integrity;
pub mod secrets;
pub mod settings;
pub mod shutdown;
pub mod snapshots;
pub mod starting;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token_exchange;
pub mod webhook_delivery;
pub mod webhooks;
