//! Request extractors whose failures are problem+json that name the offending field, and the
//! pagination shape shared by every list endpoint.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// The limit reported when no settings are installed: the documented default of
/// `max_body_bytes` (settings.rs, README configuration table), so a 413 never names another.
const DEFAULT_BODY_LIMIT: usize = 1_048_576;

/// A JSON body deserialized with the path of the first bad field (`body.scopes[1]`).
/// Requires `Content-Type: application/json` (or any `+json` type) and honours the body limit.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        // The same limit is installed as the app's PayloadConfig, which enforces it.
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.max_body_bytes)
            .and_then(|limit| usize::try_from(limit).ok())
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = body
                .await
                .map_err(|error| match error.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                    _ => ApiError::bad_request("body", "the request body could not be read"),
                })?;
            if bytes.is_empty() {
                return Err(ApiError::bad_request("body", "a JSON body is required"));
            }
            parse_json(&bytes).map(ValidJson)
        })
    }
}

/// Parses a JSON document into `T` with the API's messages: each error names its field
/// (`body.rules[0].serve`) and never the submitted value; a syntax error says where it is.
/// Shared by [`ValidJson`] and the console's JSON editor.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        let message = inner.to_string();
        let field = pointer("body", error.path(), message.starts_with("unknown field"));
        // serde_json appends " at line L column C"; keep the message about the field.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head);
        let is_data = inner.classify() == serde_json::error::Category::Data;
        // A data error is placed by its field; a syntax error only by where it is.
        let message = if is_data {
            super::serde_errors::without_values(message)
        } else {
            format!(
                "invalid JSON at line {} column {}: {message}",
                inner.line(),
                inner.column()
            )
        };
        let detail = format!("{field}: {message}");
        let errors = vec![FieldError::new(field, message)];
        // Well-formed JSON with a wrong field is 422; JSON that does not parse is 400.
        if is_data {
            ApiError::Unprocessable { detail, errors }
        } else {
            ApiError::BadRequest { detail, errors }
        }
    })?;
    deserializer.end().map_err(|error| {
        ApiError::bad_request(
            "body",
            format!(
                "invalid JSON at line {} column {}: trailing characters after the JSON value",
                error.line(),
                error.column()
            ),
        )
    })?;
    Ok(value)
}

/// An optional JSON body: a request without one (no `Content-Type`, no content) yields `None`,
/// so a one-line `curl -X POST` works; a body that is present is held to [`ValidJson`]'s rules.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let no_body = !headers.contains_key(header::CONTENT_TYPE)
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && headers
                .get(header::CONTENT_LENGTH)
                .is_none_or(|length| length.as_bytes() == b"0");
        if no_body {
            return Box::pin(std::future::ready(Ok(OptionalJson(None))));
        }
        let json = ValidJson::<T>::from_request(req, payload);
        Box::pin(async move { json.await.map(|ValidJson(value)| OptionalJson(Some(value))) })
    }
}

/// A query string deserialized with the name of the first bad parameter (`query.limit`).
/// Unknown parameters are refused where the target type says `deny_unknown_fields`.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ValidQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        let result = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(ValidQuery)
            .map_err(|error| {
                let message = error.inner().to_string();
                let field = pointer("query", error.path(), message.starts_with("unknown field"));
                ApiError::bad_request(field, super::serde_errors::without_values(&message))
            });
        std::future::ready(result)
    }
}

/// The pointer to a bad field (`body.scopes[1]`). For an unknown field it is the object that
/// holds it: the unknown name is the caller's text, perhaps a value typed in the wrong place.
fn pointer(root: &str, path: &serde_path_to_error::Path, unknown_field: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let kept = if unknown_field {
        &segments[..segments.len().saturating_sub(1)]
    } else {
        &segments[..]
    };
    let mut field = root.to_owned();
    for segment in kept {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } => field.push_str(&format!(".{key}")),
            Segment::Enum { variant } => field.push_str(&format!(".{variant}")),
            Segment::Unknown => field.push_str(".?"),
        }
    }
    field
}

/// `limit` and `cursor`, as every list endpoint takes them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

impl PageQuery {
    /// The page size, validated: 1 to 200, default 50.
    pub fn limit(&self) -> Result<usize, ApiError> {
        page_limit(self.limit)
    }

    /// The cursor of lists ordered by a number (versions, audit ids).
    pub fn numeric_cursor(&self) -> Result<Option<i64>, ApiError> {
        numeric_cursor(self.cursor.as_deref())
    }
}

/// Decodes a cursor that holds a number.
pub fn numeric_cursor(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        cursor::decode(raw)?
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("query.cursor", "not a cursor this server issued"))
    })
    .transpose()
}

/// `{"version": N}`: the body of every rollback.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    #[serde(deserialize_with = "version_number")]
    pub version: i64,
}

/// A version to roll back to: versions start at 1 (openapi.yaml's `minimum`), so 0 and below
/// are malformed (422), not merely absent (404).
fn version_number<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let version: i64 = whole_number(deserializer)?;
    if version < 1 {
        return Err(D::Error::custom("expected a version number (1 or more)"));
    }
    Ok(version)
}

pub fn page_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n as usize),
        _ => Err(ApiError::bad_request(
            "query.limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// One page of a list, with the cursor of the next page when there may be one.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page that is full may have a successor, found from its last item.
    pub fn new(items: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Self {
        let next_cursor = (items.len() == limit)
            .then(|| items.last().map(|last| cursor::encode(&cursor_of(last))))
            .flatten();
        Self { items, next_cursor }
    }
}

/// A page of a list the store returns whole (capped) and in a stable order: the items after the
/// one whose key the cursor names. A cursor naming no item is one this server never issued.
pub fn page_of<T>(
    items: Vec<T>,
    query: &PageQuery,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, ApiError> {
    let limit = query.limit()?;
    let start = match query.cursor.as_deref() {
        None => 0,
        Some(raw) => {
            let after = cursor::decode(raw)?;
            items
                .iter()
                .position(|item| key(item) == after)
                .map(|at| at + 1)
                .ok_or_else(|| {
                    ApiError::bad_request("query.cursor", "not a cursor this server issued")
                })?
        }
    };
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    Ok(Page::new(items, limit, key))
}

/// Opaque cursors: base64url of the sort key, so clients do not build them by hand.
pub mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::error::ApiError;

    /// Longer than any sort key we issue (names, keys and ids are at most a few hundred bytes).
    const MAX_KEY_BYTES: usize = 1_024;

    pub fn encode(key: &str) -> String {
        URL_SAFE_NO_PAD.encode(key)
    }

    /// The sort key a cursor holds. Every key we issue is printable text (slugs, flag keys,
    /// ids, numbers), so a cursor holding anything else was crafted: it is refused here, before
    /// it reaches SQL, where PostgreSQL would reject a NUL byte with a 500 and SQLite would
    /// silently page from wherever it sorts.
    pub fn decode(cursor: &str) -> Result<String, ApiError> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|key| {
                !key.is_empty() && key.len() <= MAX_KEY_BYTES && !key.chars().any(char::is_control)
            })
            .ok_or_else(|| ApiError::bad_request("query.cursor", "not a cursor this server issued"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn issued_cursors_round_trip_and_crafted_ones_are_refused() {
            for key in ["shop", "42", "3:production", "new-checkout.v2"] {
                assert_eq!(decode(&encode(key)).ok().as_deref(), Some(key));
            }
            for crafted in ["AAAA", "", "!!", "_w", "CQ", &encode(&"a".repeat(2_000))] {
                assert!(decode(crafted).is_err(), "{crafted:?}");
            }
        }
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// JSON Schema's reading of the wire, shared with the core crate's types: `5.0` is an integer,
/// an optional property without `null` in its type may be absent but not `null`.
pub use switchboard_core::model::wire::{non_null, whole_number};

/// [`whole_number`] for an optional field (with `#[serde(default)]`): absent is `None`, `null`
/// is refused as the spec refuses it.
pub fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    whole_number(deserializer).map(Some)
}
