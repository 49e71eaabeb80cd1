//! CORS for the evaluation routes (`/ofrep/v1/…`, `/v1/evaluate`), so that web pages of the
//! origins in `SWITCHBOARD_CORS_ORIGINS` can evaluate flags with a client-side key.
//!
//! Only those routes: nothing else of the API is meant for a browser, and a page of an allowed
//! origin must not be able to drive an admin's token at the rest. Origins match exactly (scheme,
//! host, port), never by pattern, and credentials (cookies) are never allowed: the key travels
//! in `Authorization` or `X-API-Key`. A preflight is answered here, from memory, before routing
//! or authentication (browsers send it without credentials).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// The origins allowed, as header values ready to send back.
#[derive(Debug, Default)]
pub struct CorsPolicy {
    origins: Vec<HeaderValue>,
}

/// Preflight answers are cached by browsers this long (seconds).
const MAX_AGE: &str = "600";
const ALLOW_HEADERS: &str = "authorization, x-api-key, content-type, if-none-match";
const EXPOSE_HEADERS: &str = "etag, retry-after, x-switchboard-stale";

/// One configured origin as a header value (checked by [`crate::settings::check_origin`]).
pub fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    crate::settings::check_origin(origin)?;
    HeaderValue::from_str(origin).map_err(|_| "an origin must be ASCII".to_owned())
}

impl CorsPolicy {
    /// The policy for `origins` (checked by [`crate::settings::Settings::validate`]; an
    /// invalid one is left out).
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins
                .iter()
                .filter_map(|o| parse_origin(o).ok())
                .collect(),
        }
    }

    fn allowed(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let origin = origin?;
        self.origins
            .iter()
            .find(|allowed| allowed.as_bytes() == origin.as_bytes())
            .cloned()
    }
}

fn evaluation_route(path: &str) -> bool {
    path.starts_with("/ofrep/v1/") || path == "/v1/evaluate"
}

/// The middleware.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    if !evaluation_route(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let allowed = req
        .app_data::<web::Data<CorsPolicy>>()
        .and_then(|policy| policy.allowed(req.headers().get(header::ORIGIN)));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = HttpResponse::build(StatusCode::NO_CONTENT);
        response.insert_header((header::VARY, HeaderValue::from_static("Origin")));
        if let Some(origin) = allowed {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("POST"),
                ))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                ))
                .insert_header((
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE),
                ));
        }
        return Ok(req.into_response(response.finish().map_into_right_body()));
    }
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:5173",
            "http://[::1]:80",
        ] {
            assert!(parse_origin(good).is_ok(), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://a.com/",
            "https://a.com/x",
            "*",
            "null",
            "https://",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_an_exact_origin_is_allowed() {
        let policy = CorsPolicy::new(&["https://app.example.com".to_owned()]);
        let ask = |o: &'static str| policy.allowed(Some(&HeaderValue::from_static(o)));
        assert!(ask("https://app.example.com").is_some());
        assert!(ask("https://app.example.com.evil.io").is_none());
        assert!(ask("http://app.example.com").is_none());
        assert!(policy.allowed(None).is_none());
    }
}
