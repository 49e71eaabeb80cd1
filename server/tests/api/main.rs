//! The server's integration tests: one binary (one link), one module per area. Every test talks
//! to a real server on a random port over HTTP, backed by a real database: SQLite always, and
//! PostgreSQL / Redis when `SWITCHBOARD_TEST_DATABASE_URL` / `SWITCHBOARD_TEST_REDIS_URL` are set;
//! their tests show as ignored otherwise (`SWITCHBOARD_TEST_REQUIRE=postgres,redis` turns a
//! missing one into failures, as CI does). The harness is shared with the client's tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
// `crate::on_both_backends!(…)` in the area modules.
use switchboard_test_harness::on_both_backends;

mod audit;
mod authorization;
mod cli;
mod cli_remote;
mod config;
mod console;
mod console_browser;
mod console_figures;
mod contention;
mod contract;
mod cursors;
mod database_outage;
mod deploy_manifests;
mod environments;
mod errors;
mod export_readers;
mod flags;
mod footguns;
mod healthcheck;
mod hot_path;
mod idempotency;
mod layout;
mod local_files;
mod log_hygiene;
mod observability;
mod ofrep;
mod oidc;
mod oidc_ci;
mod openfeature_sdks;
mod outage;
mod own_postgres;
mod projects;
mod propagation;
mod reach;
mod readme;
mod redis;
mod redis_outage;
mod release_plans;
mod resilience_figures;
mod rolling_update;
mod scheduled_changes;
mod schema_agreement;
mod sdk;
mod secret_integrity;
mod secret_leaks;
mod secrets;
mod shutdown;
mod small_things;
mod stale_answers;
mod start;
mod store;
mod stream_tokens;
mod system;
mod token_lifetimes;
mod tokens;
mod webhook_receiver;
mod webhooks;
mod write_outage;
