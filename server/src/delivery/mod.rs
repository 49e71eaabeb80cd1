//! Delivery that watches itself (issue 18): release plans that ramp a flag through steps under
//! guards, and one-off scheduled changes.
//!
//! # Layout
//! - [`model`]: plans and scheduled changes as the API writes them, parsed into types that
//!   cannot hold an invalid plan.
//! - [`lifecycle`]: what a plan does next (pure: spec, progress, time, event → effect).
//! - [`guards`]: evaluating Prometheus queries and HTTP checks: pass, fail or unknown.
//!
//! The background loop that runs them, with its lease, is the top-level `scheduler` module:
//! it needs the application state, which needs the store, which stores these types.
//!
//! SQL lives in `store::release_plans`, `store::scheduled_changes` and `store::leases`; the
//! HTTP side in `api::release_plans` and `api::scheduled_changes`.

pub mod guards;
pub mod lifecycle;
pub mod model;
