//! The client against a real server started in-process (SQLite in a temporary directory), one
//! test binary so the server is compiled and linked once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod helpers;
mod kill_switch;
mod offline;
#[cfg(feature = "openfeature")]
mod openfeature;
mod polling;
mod secrets;
mod streaming;
