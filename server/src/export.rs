//! Rendering configuration and secrets for pipelines: JSON, dotenv and shell `export` lines.
//!
//! Values become text the way an environment variable carries them: strings as they are,
//! numbers and booleans as their JSON text, objects and arrays as compact JSON.
//!
//! - **dotenv**: `KEY="…"` with `\`, `"` and `$` escaped by a backslash and newlines written as
//!   `\n` — the double-quoted syntax the common dotenv parsers share (dotenvy, godotenv,
//!   python-dotenv), where `\$` keeps `$` from being expanded. Other characters (tabs, carriage
//!   returns, unicode) are written as they are.
//! - **shell**: `export KEY='…'` for POSIX `sh`; inside single quotes nothing is special, and a
//!   single quote is written `'\''`. Every byte, including newlines and unicode, round-trips.
//! - **json**: one object `{ "KEY": value }` keeping the values' JSON types.
//!
//! dotenv and shell need keys that are valid environment-variable names; any other key is an
//! error naming it (never silently renamed).

use std::fmt::Write;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The formats an export can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Dotenv,
    Shell,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Dotenv | Format::Shell => "text/plain; charset=utf-8",
        }
    }
}

/// Keys that cannot be environment variables, for a dotenv or shell export.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not valid environment variable names (letters, digits and '_', not starting with a digit): {}; export them as json", .0.join(", "))]
pub struct InvalidNames(pub Vec<String>);

fn is_env_var_name(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// The text an environment variable gets for `value`.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Renders `(key, value)` pairs (in the given order). The result is wiped from memory when
/// dropped, since it may hold secrets.
pub fn render(
    format: Format,
    entries: &[(String, Value)],
) -> Result<Zeroizing<String>, InvalidNames> {
    if format != Format::Json {
        let invalid: Vec<String> = entries
            .iter()
            .filter(|(k, _)| !is_env_var_name(k))
            .map(|(k, _)| k.clone())
            .collect();
        if !invalid.is_empty() {
            return Err(InvalidNames(invalid));
        }
    }
    let mut out = Zeroizing::new(String::new());
    match format {
        Format::Json => {
            let map: Map<String, Value> = entries.iter().cloned().collect();
            out.push_str(&serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default());
            out.push('\n');
        }
        Format::Dotenv => {
            for (key, value) in entries {
                let _ = writeln!(out, "{key}=\"{}\"", dotenv_escape(&as_text(value)));
            }
        }
        Format::Shell => {
            for (key, value) in entries {
                let _ = writeln!(
                    out,
                    "export {key}='{}'",
                    as_text(value).replace('\'', "'\\''")
                );
            }
        }
    }
    Ok(out)
}

fn dotenv_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '$' => escaped.push_str("\\$"),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tricky() -> Vec<(String, Value)> {
        vec![
            ("PLAIN".into(), json!("hello world")),
            ("QUOTES".into(), json!(r#"it's "quoted""#)),
            ("DOLLAR".into(), json!("$HOME and ${PATH} and `cmd`")),
            ("MULTI".into(), json!("line one\nline two\r\n\ttabbed")),
            ("UNICODE".into(), json!("naïve ☃ 日本")),
            ("BACKSLASH".into(), json!(r"C:\path\n")),
            ("NUMBER".into(), json!(42.5)),
            ("FLAG".into(), json!(true)),
            ("OBJECT".into(), json!({ "a": [1, 2] })),
            ("EMPTY".into(), json!("")),
        ]
    }

    #[test]
    fn shell_exports_round_trip_through_sh() {
        let script = render(Format::Shell, &tricky()).unwrap();
        for (key, value) in tricky() {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}\nprintf '%s' \"${key}\"", script.as_str()))
                .output()
                .unwrap();
            assert!(output.status.success());
            assert_eq!(
                String::from_utf8(output.stdout).unwrap(),
                as_text(&value),
                "{key}"
            );
        }
    }

    #[test]
    fn dotenv_exports_round_trip_through_a_dotenv_parser() {
        let text = render(Format::Dotenv, &tricky()).unwrap();
        let parsed: std::collections::HashMap<String, String> =
            dotenvy::from_read_iter(text.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        for (key, value) in tricky() {
            assert_eq!(parsed.get(&key), Some(&as_text(&value)), "{key}");
        }
    }

    #[test]
    fn json_exports_keep_types() {
        let text = render(Format::Json, &tricky()).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["NUMBER"], json!(42.5));
        assert_eq!(parsed["OBJECT"], json!({ "a": [1, 2] }));
    }

    #[test]
    fn keys_that_cannot_be_variables_are_named_not_mangled() {
        let entries = vec![
            ("ok".into(), json!(1)),
            ("feature.limit".into(), json!(2)),
            ("1st".into(), json!(3)),
        ];
        for format in [Format::Dotenv, Format::Shell] {
            assert_eq!(
                render(format, &entries),
                Err(InvalidNames(vec!["feature.limit".into(), "1st".into()]))
            );
        }
        assert!(render(Format::Json, &entries).is_ok());
    }
}
