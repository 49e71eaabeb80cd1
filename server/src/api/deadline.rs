//! A time bound on every request: it answers within `db_timeout_secs` plus a second, with a
//! 503 when the database has not answered by then.
//!
//! The pool's acquire timeout bounds the wait for a connection, but not a query already sent on
//! a connection whose database went silent (a partition, a frozen host): that waits for as long
//! as TCP takes to give up, minutes. So each request runs in a [`WriteScope`] whose deadline is
//! `db_timeout_secs` after it arrived, and is cut off here at the deadline plus [`MARGIN`]:
//!
//! - a read, or a write whose transaction has not started committing: dropped, which rolls the
//!   transaction back; the 503 says nothing was changed (and the client may simply retry);
//! - a write whose `COMMIT` is in flight: nobody can know yet whether it was applied, so it is
//!   not reported as failed; the 503 (`outcome-unknown`) says to retry with the same
//!   `Idempotency-Key` (which replays the outcome if it was applied) or to read the resource;
//! - a write that committed: let finish, since its follow-up (`AppState::publish`) is bounded
//!   by the same deadline and its answer comes from the write itself.
//!
//! The change streams (the SDK's, the console's live pages) are endless by design and are left
//! alone.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::write_scope::{Progress, WriteScope};

/// What a request may take beyond `db_timeout_secs`: the work around the database.
const MARGIN: Duration = Duration::from_secs(1);

/// The change streams, which stay open for as long as their client does.
fn endless(path: &str) -> bool {
    path == "/v1/sdk/stream" || (path.starts_with("/ui/") && path.ends_with("/live"))
}

pub async fn bound_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.db_timeout());
    let (Some(timeout), false) = (timeout, endless(req.path())) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let scope = WriteScope::new(deadline);
    let mut request = std::pin::pin!(scope.clone().run(async move { next.call(req).await }));
    tokio::select! {
        response = &mut request => return Ok(response?.map_into_boxed_body()),
        () = tokio::time::sleep_until(deadline + MARGIN) => {}
    }
    match scope.progress() {
        // The request goes down with the handler (an open transaction rolls back); actix
        // answers the error as its problem+json.
        Progress::Open => Err(ApiError::Unavailable(anyhow::anyhow!(
            "the database did not answer within db_timeout_secs"
        ))
        .into()),
        Progress::Committing => Err(ApiError::OutcomeUnknown(anyhow::anyhow!(
            "the database did not confirm a commit within db_timeout_secs"
        ))
        .into()),
        // Applied: the rest (answer, bounded follow-up) is the write's own and is let finish.
        // A request that writes more than once may still hang in a later write: applied in
        // part, so neither failed nor done.
        Progress::Committed => match tokio::time::timeout(MARGIN, request).await {
            Ok(response) => Ok(response?.map_into_boxed_body()),
            Err(_) => Err(ApiError::OutcomeUnknown(anyhow::anyhow!(
                "a request applied in part did not finish within db_timeout_secs"
            ))
            .into()),
        },
    }
}
