//! Path parameters, parsed once at the edge: a handler takes `TypedPath<(Project, Env, ConfigKeyParam)>`
//! and receives values that are valid by construction, never positional strings.
//!
//! A segment that does not have its parameter's shape is answered without the submitted value
//! (it may be a secret pasted into the wrong place): the problem names the parameter
//! (`path.key`) and the shape it must have. Names of things that can only be looked up (a
//! project, an environment, a flag, a segment) answer 404, since nothing by that name can
//! exist; names a `PUT` may create (a config key, a secret) answer 422, like any invalid input.

use std::fmt;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use switchboard_core::FlagKey;

use crate::domain::{ConfigKey, InvalidConfigKey, InvalidSlug, Slug};
use crate::error::ApiError;

/// One `{parameter}` of a route pattern and the type its segment parses into.
pub trait PathParam: Sized {
    /// The name in the route pattern (`key` for `{key}`).
    const NAME: &'static str;
    /// The shape a segment must have, as the error states it.
    const SHAPE: &'static str;
    /// Whether an ill-shaped segment is "not found" (404) rather than invalid input (422).
    const LOOKUP_ONLY: bool;

    fn parse(raw: &str) -> Option<Self>;

    /// Reads and parses this parameter of the matched route.
    fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let field = format!("path.{}", Self::NAME);
        let raw = req
            .match_info()
            .get(Self::NAME)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route has no {field} parameter")))?;
        Self::parse(raw).ok_or_else(|| {
            if Self::LOOKUP_ONLY {
                ApiError::path_not_found(field, Self::SHAPE)
            } else {
                ApiError::invalid(field, Self::SHAPE)
            }
        })
    }
}

/// The parameters of a route, parsed; `T` is a tuple of [`PathParam`]s (`(Project,)` for
/// one) in the order the handler wants them.
#[derive(Debug)]
pub struct TypedPath<T>(pub T);

impl<T: PathParams> FromRequest for TypedPath<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(T::parse_all(req).map(TypedPath))
    }
}

/// A parameter or a tuple of parameters (see [`TypedPath`]).
pub trait PathParams: Sized {
    fn parse_all(req: &HttpRequest) -> Result<Self, ApiError>;
}

macro_rules! path_params_tuple {
    ($($param:ident),+) => {
        impl<$($param: PathParam),+> PathParams for ($($param,)+) {
            fn parse_all(req: &HttpRequest) -> Result<Self, ApiError> {
                Ok(($($param::from_request(req)?,)+))
            }
        }
    };
}
path_params_tuple!(A);
path_params_tuple!(A, B);
path_params_tuple!(A, B, C);
path_params_tuple!(A, B, C, D);

/// Declares a parameter type: a newtype over a domain value that reads as `&str`.
macro_rules! path_param {
    ($(#[$doc:meta])* $name:ident($inner:ty), $param:literal, $shape:expr, lookup_only: $lookup:literal, $parse:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(pub $inner);

        impl PathParam for $name {
            const NAME: &'static str = $param;
            const SHAPE: &'static str = $shape;
            const LOOKUP_ONLY: bool = $lookup;

            fn parse(raw: &str) -> Option<Self> {
                let parse: fn(&str) -> Option<$inner> = $parse;
                parse(raw).map($name)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }
    };
}

const SLUG_SHAPE: &str = InvalidSlug::SHAPE;
const CONFIG_KEY_SHAPE: &str = InvalidConfigKey::SHAPE;
// Not `InvalidKey`'s message: that one repeats the value.
const FLAG_KEY_SHAPE: &str = "must be 1-128 characters of letters, digits, '_', '.' and '-', starting with a letter or digit";

path_param!(
    /// `{project}`: a project's name.
    Project(Slug), "project", SLUG_SHAPE, lookup_only: true, |raw| Slug::parse(raw).ok()
);
path_param!(
    /// `{env}`: an environment's name.
    Env(Slug), "env", SLUG_SHAPE, lookup_only: true, |raw| Slug::parse(raw).ok()
);
path_param!(
    /// `{key}` of a flag.
    FlagKeyParam(FlagKey), "key", FLAG_KEY_SHAPE, lookup_only: true, |raw| FlagKey::parse(raw).ok()
);
path_param!(
    /// `{name}` of a segment (the flag-key grammar).
    SegmentName(FlagKey), "name", FLAG_KEY_SHAPE, lookup_only: true, |raw| FlagKey::parse(raw).ok()
);
path_param!(
    /// `{id}` of a release plan or a scheduled change: a UUID, kept in its canonical spelling.
    ResourceId(String), "id", "must be a UUID", lookup_only: true,
    |raw| uuid::Uuid::parse_str(raw).ok().map(|id| id.to_string())
);
path_param!(
    /// `{key}` of a config entry; a `PUT` may create it.
    ConfigKeyParam(ConfigKey), "key", CONFIG_KEY_SHAPE, lookup_only: false, |raw| ConfigKey::parse(raw).ok()
);
path_param!(
    /// `{name}` of a secret (the config-key grammar); a `PUT` may create it.
    SecretName(ConfigKey), "name", CONFIG_KEY_SHAPE, lookup_only: false, |raw| ConfigKey::parse(raw).ok()
);
path_param!(
    /// `{policy}`: an OIDC trust policy's name.
    PolicyName(Slug), "policy", SLUG_SHAPE, lookup_only: true, |raw| Slug::parse(raw).ok()
);
path_param!(
    /// `{webhook}`: a webhook endpoint's id (a UUID).
    WebhookId(String), "webhook", "must be a webhook id (a UUID)", lookup_only: true,
    |raw| uuid::Uuid::parse_str(raw).ok().map(|id| id.to_string())
);
path_param!(
    /// `{delivery}`: a webhook delivery's id (`msg_` and 32 hexadecimal digits).
    DeliveryId(String), "delivery", "must be a delivery id ('msg_' and 32 hexadecimal digits)", lookup_only: true,
    |raw| raw
        .strip_prefix("msg_")
        .filter(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(|_| raw.to_owned())
);

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(params: &[(&'static str, &'static str)]) -> HttpRequest {
        params
            .iter()
            .fold(TestRequest::default(), |req, (name, value)| {
                req.param(*name, *value)
            })
            .to_http_request()
    }

    #[test]
    fn a_bad_segment_is_named_with_its_shape_and_never_echoed() {
        let req = request(&[("project", "shop"), ("key", "sk_live_SECRET x")]);
        let error = <(Project, ConfigKeyParam)>::parse_all(&req).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("path.key: must be"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(matches!(error, ApiError::Unprocessable { .. }));

        let req = request(&[("project", "Shop")]);
        let error = <(Project,)>::parse_all(&req).unwrap_err();
        assert!(error.to_string().starts_with("path.project: "));
        assert!(!error.to_string().contains("Shop"));
        assert!(matches!(error, ApiError::PathNotFound { .. }));
    }

    #[test]
    fn good_segments_parse_into_their_types() {
        let req = request(&[
            ("project", "shop"),
            ("env", "prod"),
            ("key", "new-checkout"),
        ]);
        let (project, env, key) = <(Project, Env, FlagKeyParam)>::parse_all(&req).unwrap();
        assert_eq!((&*project, &*env, &*key), ("shop", "prod", "new-checkout"));
    }
}
