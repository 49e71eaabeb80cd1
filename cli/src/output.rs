//! What remote commands print: aligned tables for people, the server's JSON for scripts.
//!
//! `--output json` prints what the server answered (pretty-printed), so scripts see the fields
//! `openapi.yaml` documents rather than a second, CLI-specific shape. Results go to stdout,
//! everything else (progress, warnings, errors) to stderr. A closed stdout (`| head -1`) ends
//! the command quietly instead of with a panic.

use std::io::Write;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::parse;
use crate::error::Result;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The server's JSON, for scripts.
    Json,
}

#[derive(Clone, Copy, Debug, Args)]
pub struct OutputArgs {
    /// Output format: `table` for people, `json` for scripts.
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value_t = Format::Table,
        env = "SWITCHBOARD_OUTPUT",
        global = true
    )]
    pub output: Format,
}

impl OutputArgs {
    pub fn out(&self) -> Out {
        Out {
            format: self.output,
        }
    }
}

/// Prints results in the chosen format.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub format: Format,
}

impl Out {
    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// `value` as JSON, or the table `table` builds from it read as a `T`.
    pub fn emit<T: DeserializeOwned>(
        &self,
        value: &Value,
        table: impl FnOnce(T) -> Table,
    ) -> Result<()> {
        match self.format {
            Format::Json => print_json(value),
            Format::Table => write_stdout(table(parse(value)?).render().as_bytes()),
        }
    }

    /// `value` as JSON, or one human line from it read as a `T`.
    pub fn emit_line<T: DeserializeOwned>(
        &self,
        value: &Value,
        line: impl FnOnce(T) -> String,
    ) -> Result<()> {
        match self.format {
            Format::Json => print_json(value),
            Format::Table => self.line(&line(parse(value)?)),
        }
    }

    /// One line on stdout, whatever the format.
    pub fn line(&self, text: &str) -> Result<()> {
        write_stdout(format!("{text}\n").as_bytes())
    }
}

pub fn print_json(value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes to stdout; a reader that went away (`EPIPE`) is not an error worth a message.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::from(e).context("writing to stdout").into())
        }
        _ => Ok(()),
    }
}

/// Columns separated by two spaces, each as wide as its widest cell.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) -> &mut Self {
        self.rows.push(cells.into());
        self
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (width, text) in widths.iter_mut().zip(row) {
                *width = (*width).max(text.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (text, width)) in row.iter().zip(&widths).enumerate() {
                line.push_str(text);
                if i + 1 < columns {
                    let pad = width - text.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A value as one table cell, as its JSON would read: strings bare, `null` (`None`) as `-`, the
/// rest as compact JSON, all on one line and cut at a readable length (`--output json` has the
/// full value).
pub fn cell<T: Serialize + ?Sized>(value: &T) -> String {
    const MAX: usize = 60;
    let text = match serde_json::to_value(value).unwrap_or(Value::Null) {
        Value::Null => "-".to_owned(),
        Value::String(text) => text,
        other => other.to_string(),
    };
    let text = text.replace('\n', "\\n");
    if text.chars().count() > MAX {
        let mut cut: String = text.chars().take(MAX - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// A value as a script wants it on one line: strings bare, anything else as JSON (what a dotenv
/// export holds, see the server's `export::as_text`).
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time without its fractional seconds, for tables; `-` for none.
pub fn time(value: Option<&str>) -> String {
    match value {
        Some(text) => match (text.find('.'), text.rfind(['Z', '+', '-'])) {
            (Some(dot), Some(zone)) if zone > dot => format!("{}{}", &text[..dot], &text[zone..]),
            _ => text.to_owned(),
        },
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_lines_have_no_trailing_blanks() {
        let mut table = Table::new(["KEY", "VALUE"]);
        table.row(["a".into(), "1".into()]);
        table.row(["longer".into(), "".into()]);
        assert_eq!(table.render(), "KEY     VALUE\na       1\nlonger\n");
    }

    #[test]
    fn cells_are_one_short_line() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("a\nb")), "a\\nb");
        assert_eq!(cell(&json!([1, 2])), "[1,2]");
        assert_eq!(cell(&json!("x".repeat(100))).chars().count(), 60);
    }

    #[test]
    fn times_lose_only_their_fraction() {
        assert_eq!(
            time(Some("2026-01-02T03:04:05.123456Z")),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            time(Some("2026-01-02T03:04:05+02:00")),
            "2026-01-02T03:04:05+02:00"
        );
    }
}
