//! serde's error messages, rewritten for a caller who never sees our source and for logs that
//! must never hold a submitted value.
//!
//! serde writes `invalid type: integer `482913`, expected a string` and `unknown variant
//! `hunter2`, expected one of ...`: the submitted value goes into the text, and the text goes
//! into the problem `detail`, the log line and the span. It also names Rust types (`expected
//! struct PutBody`). [`without_values`] keeps what the caller can act on, the kind of value that
//! came and the shape that was expected in JSON terms, and drops the rest. Messages of another
//! form (our own parse errors, which name the rule and not the value) pass through unchanged.

/// The message of a serde (JSON or query-string) error with the submitted value removed and Rust
/// type names replaced by JSON shapes.
pub fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            return format!(
                "expected {}, got {}",
                json_shape(expected),
                kind_of(unexpected)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return match rest.rsplit_once(", expected ") {
            Some((_, expected)) => format!("not an allowed value; expected {expected}"),
            None => "not an allowed value".to_owned(),
        };
    }
    // The unknown name may be a value typed in the wrong place; the allowed names are ours.
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return match rest.rsplit_once(", expected ") {
            Some((_, expected)) => format!("unknown field; expected {expected}"),
            None => "unknown field; this object takes no fields".to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((_, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "wrong number of elements; expected {}",
            json_shape(expected)
        );
    }
    // Parse errors of the standard library (`invalid digit found in string`) carry no value.
    message.to_owned()
}

/// The JSON kind of serde's `Unexpected` display, without the value it carries.
fn kind_of(unexpected: &str) -> &'static str {
    const KINDS: [(&str, &str); 12] = [
        ("boolean", "a boolean"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("character", "a string"),
        ("string", "a string"),
        ("byte array", "a string"),
        ("null", "null"),
        ("unit", "null"),
        ("Option", "null"),
        ("sequence", "an array"),
        ("map", "an object"),
        ("enum", "a variant"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| unexpected.starts_with(prefix))
        .map_or("another value", |(_, kind)| kind)
}

/// serde's `expected ...` text in JSON terms: `struct PutBody` is an object, `u32` a number.
fn json_shape(expected: &str) -> String {
    let shape = match expected {
        "a map" => "an object",
        "a sequence" => "an array",
        "a borrowed string" => "a string",
        "a character" => "a one-character string",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "option" => "a value or null",
        other if other.starts_with("struct ") || other.starts_with("a struct ") => "an object",
        other if other.starts_with("tuple struct ") || other.starts_with("a tuple") => "an array",
        other if other.contains("enum ") || other.starts_with("variant identifier") => {
            "one of the allowed values"
        }
        other if other.starts_with("unit struct ") => "null",
        other => return other.to_owned(),
    };
    shape.to_owned()
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn type_errors_name_the_shape_and_never_the_value() {
        assert_eq!(
            without_values("invalid type: integer `482913`, expected a string"),
            "expected a string, got a number"
        );
        assert_eq!(
            without_values("invalid type: string \"s3cr3t, expected x\", expected struct PutBody"),
            "expected an object, got a string"
        );
        assert_eq!(
            without_values("unknown variant `hunter2`, expected one of `json`, `shell`"),
            "not an allowed value; expected one of `json`, `shell`"
        );
        assert_eq!(
            without_values("unknown field `hunter2`, expected `value`"),
            "unknown field; expected `value`"
        );
        assert_eq!(
            without_values("invalid value: integer `-5`, expected u32"),
            "expected a non-negative integer, got a number"
        );
    }
}
