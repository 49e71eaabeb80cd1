//! Optimistic concurrency: versions as strong `ETag`s, `If-Match` as the expected version.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::ApiError;

/// The `ETag` of a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version `If-Match` expects: `None` without the header (or with `*`), so writes stay
/// possible from a one-line `curl`; an ETag this server did not issue can never match, which
/// the store reports as a stale version (412).
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("header.If-Match", "must be an ETag such as \"3\""))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    // A list can only match if one entry is the current version; take the first we understand.
    let version = text
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .find_map(|tag| tag.parse::<i64>().ok())
        .unwrap_or(-1);
    Ok(Some(version))
}
