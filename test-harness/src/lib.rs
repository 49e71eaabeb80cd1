//! What the server's and the client's integration tests share, so that both drive the same real
//! server the same way: one place to change when the server's start-up or settings change.
//!
//! # Layout
//! - `backend`: SQLite / PostgreSQL / Redis chosen from `SWITCHBOARD_TEST_*`, and the macros
//!   that mark a backend's tests ignored when it is not configured (decided in build.rs).
//! - `database`: a fresh database per test (a SQLite file, or a PostgreSQL schema dropped
//!   afterwards).
//! - `app`: [`TestApp`], a server on a port of its own with its own data and Redis prefix,
//!   stoppable and restartable; typed request helpers and the fixtures both suites use.
//!
//! Suite-specific helpers stay with their suites (server/tests/api/helpers.rs,
//! client-sdk/tests/sdk/helpers.rs).
// A harness reports a broken arrangement by panicking: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod backend;
mod database;

pub use app::{TestApp, free_port, spawn_app, spawn_app_with};
pub use backend::{Backend, NOT_CONFIGURED, postgres, redis_url, required};
pub use database::TestDatabase;
