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
mod cli;
mod cli_remote;
mod config;
mod contract;
mod environments;
mod errors;
mod export_readers;
mod flags;
mod footguns;
mod layout;
mod observability;
mod projects;
mod propagation;
mod readme;
mod redis;
mod sdk;
mod secret_leaks;
mod secrets;
mod shutdown;
mod store;
mod system;
mod tokens;
