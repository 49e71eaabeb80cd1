//! `Idempotency-Key`: safe retries of writes.
//!
//! A client that did not get an answer (a timeout, a dropped connection, a 503 during a
//! database blip) cannot know whether its write was applied. Sending the write again with the
//! same `Idempotency-Key` header returns the original outcome (status, `ETag`, `Location`,
//! body, and `Idempotent-Replayed: true`) instead of applying it twice, for 24 hours and on any
//! instance (the outcomes live in the database). This follows the IETF draft
//! "The Idempotency-Key HTTP Header Field" and what Stripe and others do:
//!
//! - the key is scoped to the token that sent it; reusing it for another method, path or body
//!   is a 422, and a retry while the first request is still running is a 409;
//! - only outcomes are kept: a 5xx, 401, 408 or 429 gives the key back so that the retry runs;
//! - it applies to `POST`, `PUT`, `PATCH` and `DELETE` under `/v1/projects` (every versioned
//!   resource); elsewhere the header is ignored (`/v1/tokens` answers carry a token, which is
//!   never written to the database).
//!
//! The outcome is recorded in the write's own transaction (`store::write_scope`): the write
//! and its recorded answer commit together or not at all, so a retry after an outage that
//! swallowed the answer replays exactly what the first request answered, and a write whose
//! commit failed runs again.
//!
//! Nothing secret is stored: the caller and the request are SHA-256 digests keyed by the token
//! (a secret value in a body cannot be guessed from them without it), and an answer marked
//! `Cache-Control: no-store` is never recorded.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::idempotency::{self, Claim, Claimed, Outcome};
use crate::store::write_scope::{Ending, WriteScope};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest key accepted (UUIDs and ULIDs fit many times over).
const MAX_KEY_LEN: usize = 255;

/// Runs the request once per key; see the module documentation.
pub async fn replay(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let applies = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && req.path().starts_with("/v1/projects");
    let (Some(key), Some(authorization), true) = (
        req.headers().get(IDEMPOTENCY_KEY).cloned(),
        req.headers().get(header::AUTHORIZATION).cloned(),
        applies,
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match key.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            key.to_owned()
        }
        _ => {
            let problem = ApiError::bad_request(
                "header.Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID"),
            );
            return Ok(req.error_response(problem));
        }
    };
    // The body is read here to be hashed, then handed back for the handler to parse; it
    // fails the way the handler's own reading would.
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(error) => {
            let problem = match error.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge {
                    limit: usize::try_from(state.settings.max_body_bytes).unwrap_or(usize::MAX),
                },
                _ => ApiError::bad_request("body", "the request body could not be read"),
            };
            return Ok(req.error_response(problem));
        }
    };
    let claim = Claim {
        caller: hex(&[b"caller", authorization.as_bytes()]),
        key,
        request_hash: hex(&[
            authorization.as_bytes(),
            req.method().as_str().as_bytes(),
            req.path().as_bytes(),
            req.query_string().as_bytes(),
            &body,
        ]),
    };
    req.set_payload(body.into());
    match idempotency::claim(&state.store, &claim, state.settings.db_timeout()).await {
        Ok(Claimed::Fresh) => {}
        Ok(Claimed::Replay(outcome)) => return Ok(req.into_response(replayed(&outcome))),
        Ok(Claimed::Mismatch) => {
            let problem = ApiError::invalid(
                "header.Idempotency-Key",
                "was used for another request (method, path or body) in the last 24 hours; \
                 use a new key for a new request",
            );
            return Ok(req.error_response(problem));
        }
        Ok(Claimed::InFlight) => {
            let problem = ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry later"
                    .to_owned(),
            );
            return Ok(req.error_response(problem));
        }
        Err(error) => return Ok(req.error_response(ApiError::from(error))),
    }

    // From here on the request's writes wait for their outcome, to commit with it.
    let scope = WriteScope::current();
    if let Some(scope) = &scope {
        scope.hold_for(claim.clone());
    }
    let response = next.call(req).await?;
    let status = response.status();
    let failed = status.is_server_error()
        || [
            StatusCode::UNAUTHORIZED,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&status);
    if failed || no_store(response.headers()) {
        // Not an outcome to replay: a failed answer rolls back what the request wrote; an
        // answer that must not be stored lets the write commit without it. Either way the
        // key is given back.
        let ending = if failed {
            Ending::Abandon
        } else {
            Ending::Commit
        };
        let finished = match &scope {
            Some(scope) => scope.finish(ending).await,
            None => Ok(None),
        };
        if let Err(error) = idempotency::release(&state.store, &claim).await {
            tracing::warn!(error = %error, "an Idempotency-Key claim could not be released");
        }
        return match finished {
            Ok(follow_ups) => {
                state.follow_up(follow_ups.unwrap_or_default()).await;
                Ok(response.map_into_boxed_body())
            }
            Err(error) => {
                let (request, _) = response.into_parts();
                Ok(ServiceResponse::new(
                    request,
                    ApiError::from(error).error_response(),
                ))
            }
        };
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.into().to_string()))?;
    let header_text = |name| {
        head.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let outcome = Outcome {
        status: status.as_u16(),
        etag: header_text(header::ETAG),
        location: header_text(header::LOCATION),
        content_type: header_text(header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let finished = match &scope {
        Some(scope) => scope.finish(Ending::Record(&outcome)).await,
        None => Ok(None),
    };
    match finished {
        // The write and its outcome are committed; the follow-up it deferred runs now.
        Ok(Some(follow_ups)) => state.follow_up(follow_ups).await,
        // Nothing was written (a refusal, a 404): the outcome is recorded on its own, and
        // answered only once recorded, so that every answer given to a key is the one its
        // retries get. Unrecorded, the answer is the failure (nothing was changed).
        Ok(None) => {
            if let Err(error) = idempotency::record(state.store.pool(), &claim, &outcome).await {
                if let Err(error) = idempotency::release(&state.store, &claim).await {
                    tracing::warn!(error = %error, "an Idempotency-Key claim could not be released");
                }
                return Ok(ServiceResponse::new(
                    request,
                    ApiError::from(error).error_response(),
                ));
            }
        }
        // The write may have committed with its outcome: the key stays claimed, and a retry
        // finds either the outcome or, once the claim expires, runs again.
        Err(error @ StoreError::OutcomeUnknown(_)) => {
            return Ok(ServiceResponse::new(
                request,
                ApiError::from(error).error_response(),
            ));
        }
        // Not committed: the answer becomes the failure, and the key is given back.
        Err(error) => {
            if let Err(error) = idempotency::release(&state.store, &claim).await {
                tracing::warn!(error = %error, "an Idempotency-Key claim could not be released");
            }
            return Ok(ServiceResponse::new(
                request,
                ApiError::from(error).error_response(),
            ));
        }
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

/// The recorded answer, marked as a replay.
fn replayed(outcome: &Outcome) -> HttpResponse {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((REPLAYED, "true"));
    for (name, value) in [
        (header::ETAG, &outcome.etag),
        (header::LOCATION, &outcome.location),
        (header::CONTENT_TYPE, &outcome.content_type),
    ] {
        if let Some(value) = value {
            response.insert_header((name, value.as_str()));
        }
    }
    if outcome.body.is_empty() {
        response.finish()
    } else {
        response.body(outcome.body.clone())
    }
}

fn no_store(headers: &header::HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("no-store"))
}

/// SHA-256 over the parts, each length-prefixed so that no two lists of parts collide.
fn hex(parts: &[&[u8]]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
