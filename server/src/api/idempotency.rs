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
//! Nothing secret is stored: the caller and the request are SHA-256 digests keyed by the token
//! (a secret value in a body cannot be guessed from them without it), and an answer marked
//! `Cache-Control: no-store` is never recorded.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::idempotency::{self, Claim, Claimed, Outcome};

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
    match idempotency::claim(&state.store, &claim).await {
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

    let response = next.call(req).await?;
    let status = response.status();
    let keeps = !status.is_server_error()
        && ![
            StatusCode::UNAUTHORIZED,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&status)
        && !no_store(response.headers());
    if !keeps {
        if let Err(error) = idempotency::release(&state.store, &claim).await {
            tracing::warn!(error = %error, "an Idempotency-Key claim could not be released");
        }
        return Ok(response.map_into_boxed_body());
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
    // The write is done and answered whatever happens here; a lost record only means that a
    // retry with this key runs again once the in-flight claim expires.
    if let Err(error) = idempotency::record(&state.store, &claim, &outcome).await {
        tracing::warn!(error = %error, "an Idempotency-Key outcome could not be recorded");
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
