//! Rendering configuration and secrets for pipelines: JSON, dotenv and shell `export` lines.
//!
//! Values become text the way an environment variable carries them: strings as they are,
//! numbers and booleans as their JSON text, objects and arrays as compact JSON. Every format
//! gives back exactly that text or answers an error naming the keys it cannot carry; it never
//! writes something a reader turns into a different value.
//!
//! - **dotenv**, for loaders (python-dotenv, the `dotenv` npm package, dotenvy, godotenv,
//!   docker compose `env_file`): `KEY='…'`. Single quotes are the one syntax all of them read
//!   literally (no escapes, no `$` expansion, newlines kept), and a POSIX shell that sources
//!   the file reads them literally too, so it never runs anything. The readers disagree only
//!   where this module refuses: python-dotenv decodes `\\` and `\'` inside single quotes and
//!   expands `${…}` whatever the quoting; npm dotenv and python-dotenv turn a carriage
//!   return into a newline; godotenv deletes `---` before a newline (PEM blocks hold one).
//!   A value holding a single quote is written `KEY="…"` instead when nothing in it is
//!   special between double quotes (`"`, `\`, `$`, a backtick); otherwise no quoting carries
//!   it to every reader, and the export is refused.
//! - **shell**, for `set -a; . ./file`: `export KEY='…'`; inside single quotes nothing is
//!   special, and a single quote is written `'\''`. Every value but one holding NUL (which no
//!   environment variable can) round-trips through sh, dash and bash, CR and LF included.
//! - **json**, for programs: one object `{ "KEY": value }` keeping the values' JSON types.
//!
//! dotenv and shell need keys that are valid environment-variable names; any other key is an
//! error naming it (never silently renamed). Errors name keys only, never values: a value may
//! be a secret.

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

/// Why a dotenv or shell export cannot be written. The messages name keys, never values, and
/// read on from "keys " (the API answers "keys A, B hold …").
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unexportable {
    #[error("not valid environment variable names (letters, digits and '_', not starting with a digit): {}; export them as json", .0.join(", "))]
    InvalidNames(Vec<String>),
    #[error("{} hold a NUL character, which no environment variable can carry; export them as json", .0.join(", "))]
    Nul(Vec<String>),
    #[error("{} hold values that not every dotenv reader reads back unchanged (a carriage return, `---` before a newline as in PEM blocks, `${{` followed by `}}`, `\\\\` or a trailing `\\`, or a single quote together with `\"`, `\\`, `$` or a backtick); export them as shell or json", .0.join(", "))]
    NotDotenv(Vec<String>),
}

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
) -> Result<Zeroizing<String>, Unexportable> {
    let mut out = Zeroizing::new(String::new());
    if format == Format::Json {
        let map: Map<String, Value> = entries.iter().cloned().collect();
        out.push_str(&serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default());
        out.push('\n');
        return Ok(out);
    }
    refuse_keys(entries.iter().filter(|(key, _)| !is_env_var_name(key)))
        .map_err(Unexportable::InvalidNames)?;
    let texts: Vec<(&str, Zeroizing<String>)> = entries
        .iter()
        .map(|(key, value)| (key.as_str(), Zeroizing::new(as_text(value))))
        .collect();
    refuse_keys(texts.iter().filter(|(_, text)| text.contains('\0'))).map_err(Unexportable::Nul)?;
    match format {
        Format::Dotenv => {
            let quotes: Vec<Option<char>> =
                texts.iter().map(|(_, text)| dotenv_quote(text)).collect();
            refuse_keys(
                texts
                    .iter()
                    .zip(&quotes)
                    .filter(|(_, quote)| quote.is_none())
                    .map(|(entry, _)| entry),
            )
            .map_err(Unexportable::NotDotenv)?;
            for ((key, text), quote) in texts.iter().zip(quotes) {
                let quote = quote.unwrap_or('\'');
                let _ = writeln!(out, "{key}={quote}{}{quote}", text.as_str());
            }
        }
        Format::Shell | Format::Json => {
            for (key, text) in &texts {
                let _ = writeln!(out, "export {key}='{}'", text.replace('\'', "'\\''"));
            }
        }
    }
    Ok(out)
}

/// `Err` with the keys of `refused` (in order) when there are any.
fn refuse_keys<'a, K: AsRef<str> + 'a, V: 'a>(
    refused: impl Iterator<Item = &'a (K, V)>,
) -> Result<(), Vec<String>> {
    let keys: Vec<String> = refused.map(|(key, _)| key.as_ref().to_owned()).collect();
    if keys.is_empty() { Ok(()) } else { Err(keys) }
}

/// The quote that carries `text` unchanged through every common dotenv reader (and a POSIX
/// shell sourcing the file), or `None` when none does. Established by reading values back
/// with each reader (`tests/readers/`), not from their documentation:
/// - single quotes are literal in all of them, except that python-dotenv decodes `\\` and
///   `\'` there (so `\\`, and a trailing `\` that would escape the closing quote, are out);
/// - python-dotenv expands `${NAME}` inside any quotes, with no way to escape it;
/// - npm dotenv and python-dotenv turn a raw carriage return into a newline, and the only
///   way to write one (`\r` inside double quotes) is not read by dotenvy or sh;
/// - godotenv deletes `---` before a newline anywhere in the file (a YAML document marker),
///   which PEM blocks (`-----BEGIN …-----` and a newline) hold: read from its parser, as no
///   Go toolchain is there to run it where the tests run;
/// - between double quotes every reader and sh keep text literal that holds none of `"`,
///   `\`, `$` or a backtick: the fallback for a value with a single quote.
fn dotenv_quote(text: &str) -> Option<char> {
    let python_expands = text.split("${").skip(1).any(|rest| rest.contains('}'));
    if text.contains('\r') || text.contains("---\n") || python_expands {
        None
    } else if !text.contains('\'') && !text.contains("\\\\") && !text.ends_with('\\') {
        Some('\'')
    } else if !text.contains(['"', '\\', '$', '`']) {
        Some('"')
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Values every format carries: the dotenv readers themselves are exercised on a larger
    /// table through the HTTP API (`server/tests/api/export_readers.rs`).
    fn carried() -> Vec<(String, Value)> {
        vec![
            ("PLAIN".into(), json!("hello world")),
            ("QUOTED".into(), json!(r#"say "hi""#)),
            ("APOSTROPHE".into(), json!("it's")),
            ("DOLLAR".into(), json!("pa$$ word $HOME $(id) `id`")),
            ("MULTI".into(), json!("line one\nline two\n\ttabbed")),
            ("UNICODE".into(), json!("naïve ☃ 日本")),
            ("BACKSLASH".into(), json!(r"C:\path\n")),
            ("NUMBER".into(), json!(42.5)),
            ("FLAG".into(), json!(true)),
            ("OBJECT".into(), json!({ "a": [1, 2] })),
            ("EMPTY".into(), json!("")),
        ]
    }

    /// Values some dotenv reader would read back differently.
    fn not_dotenv() -> Vec<(String, Value)> {
        vec![
            ("BRACES".into(), json!("${HOME}")),
            ("CR".into(), json!("line\r\n")),
            (
                "PEM".into(),
                json!("-----BEGIN KEY-----\nMII\n-----END KEY-----\n"),
            ),
            ("UNC".into(), json!(r"\\server\share")),
            ("TRAILING".into(), json!("dir\\")),
            ("BOTH_QUOTES".into(), json!(r#"it's "quoted""#)),
            ("QUOTE_DOLLAR".into(), json!("it's $5")),
        ]
    }

    fn sourced(shell: &str, script: &str, key: &str) -> String {
        let output = std::process::Command::new(shell)
            .arg("-c")
            .arg(format!("{script}\nprintf '%s' \"${key}\""))
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn shell_exports_round_trip_through_sh_bash_and_dash() {
        let entries: Vec<_> = carried().into_iter().chain(not_dotenv()).collect();
        let script = render(Format::Shell, &entries).unwrap();
        for shell in ["sh", "bash", "dash"] {
            for (key, value) in &entries {
                assert_eq!(
                    sourced(shell, &script, key),
                    as_text(value),
                    "{shell} {key}"
                );
            }
        }
    }

    #[test]
    fn dotenv_exports_round_trip_through_dotenvy_and_sh() {
        let text = render(Format::Dotenv, &carried()).unwrap();
        let parsed: std::collections::HashMap<String, String> =
            dotenvy::from_read_iter(text.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        for (key, value) in carried() {
            assert_eq!(parsed.get(&key), Some(&as_text(&value)), "{key}");
            assert_eq!(sourced("sh", &text, &key), as_text(&value), "sh {key}");
        }
    }

    #[test]
    fn dotenv_single_quotes_values_and_double_quotes_only_an_apostrophe() {
        let entries = vec![
            ("A".into(), json!("pa$$ word")),
            ("B".into(), json!("it's")),
        ];
        let text = render(Format::Dotenv, &entries).unwrap();
        assert_eq!(text.as_str(), "A='pa$$ word'\nB=\"it's\"\n");
    }

    #[test]
    fn dotenv_refuses_what_a_reader_would_change_naming_keys_not_values() {
        for (key, value) in not_dotenv() {
            let entries = vec![("FINE".into(), json!("ok")), (key.clone(), value.clone())];
            let error = render(Format::Dotenv, &entries).unwrap_err();
            assert_eq!(error, Unexportable::NotDotenv(vec![key.clone()]));
            assert!(!error.to_string().contains(&as_text(&value)), "{key}");
        }
    }

    #[test]
    fn nul_is_refused_by_every_environment_format() {
        let entries = vec![("NUL".into(), json!("a\0b"))];
        for format in [Format::Dotenv, Format::Shell] {
            assert_eq!(
                render(format, &entries),
                Err(Unexportable::Nul(vec!["NUL".into()]))
            );
        }
        assert!(render(Format::Json, &entries).is_ok());
    }

    #[test]
    fn json_exports_keep_types() {
        let text = render(Format::Json, &carried()).unwrap();
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
                Err(Unexportable::InvalidNames(vec![
                    "feature.limit".into(),
                    "1st".into()
                ]))
            );
        }
        assert!(render(Format::Json, &entries).is_ok());
    }
}
