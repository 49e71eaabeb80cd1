//! Field-level deserializers that make the wire form accept exactly what openapi.yaml allows:
//! JSON Schema counts `5.0` as an integer, and an optional property typed without `null` may be
//! left out but not sent as `null`. The serialized form never writes `null` for these fields
//! (they are skipped when absent), so stored documents read back unchanged. The server's own
//! request bodies use them too, so both crates read the wire the same way.

use serde::Deserialize;
use serde::de::Error;

/// An integer written `5` or `5.0`; a fraction or a value out of `T`'s range is refused without
/// echoing it.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match (number.as_i64(), number.as_f64()) {
        (Some(integer), _) => Some(integer),
        // `as` saturates; the bounds check keeps saturated values out.
        (None, Some(float))
            if float.fract() == 0.0 && float >= i64::MIN as f64 && float < i64::MAX as f64 =>
        {
            Some(float as i64)
        }
        _ => None,
    };
    whole
        .and_then(|whole| T::try_from(whole).ok())
        .ok_or_else(|| D::Error::custom("expected a whole number in range"))
}

/// An optional field (with `#[serde(default)]`): absent is `None`, `null` is refused.
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
