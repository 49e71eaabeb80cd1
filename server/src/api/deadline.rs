//! A time bound on reads: a `GET` or `HEAD` answers within `db_timeout_secs` plus a second,
//! with a 503 when the database has not answered by then.
//!
//! The pool's acquire timeout bounds the wait for a connection, but not a query already sent on
//! a connection whose database went silent (a partition, a frozen host): that waits for as long
//! as TCP takes to give up, minutes. Dropping a read loses nothing, so reads are cut off here.
//! Writes are not: a write cut off after its commit would be answered as failed although it
//! was applied; versioned writes bound their own transaction instead (`store::retrying`), so
//! that the bound can only strike before the commit. The change streams (the SDK's, the
//! console's live pages) are endless by design.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;

/// What a read may take beyond `db_timeout_secs`: the work around the database.
const MARGIN: Duration = Duration::from_secs(1);

/// The change streams, which stay open for as long as their client does.
fn endless(path: &str) -> bool {
    path == "/v1/sdk/stream" || (path.starts_with("/ui/") && path.ends_with("/live"))
}

pub async fn bound_reads(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let bound = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.db_timeout() + MARGIN);
    let (true, Some(bound), false) = (read, bound, endless(req.path())) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    match tokio::time::timeout(bound, next.call(req)).await {
        Ok(response) => Ok(response?.map_into_boxed_body()),
        // The request went down with the handler; actix answers the error as its problem+json.
        Err(_) => Err(ApiError::Unavailable(anyhow::anyhow!(
            "the database did not answer within db_timeout_secs"
        ))
        .into()),
    }
}
