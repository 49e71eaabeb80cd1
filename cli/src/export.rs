//! `secrets export` and `config export`: the server's rendering (dotenv, JSON or shell lines,
//! see the server's `export` module) passed through byte for byte, to stdout or to a private file.
//!
//! The server renders, not the CLI, so a file written here is exactly what
//! `curl …/export?format=…` returns and there is one escaping implementation to trust.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use reqwest::Url;

use crate::client::Client;
use crate::envfile::write_private;
use crate::error::Result;
use crate::output::write_stdout;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// `KEY='…'` lines, for dotenv loaders (python-dotenv, dotenv, dotenvy, godotenv).
    Dotenv,
    /// One JSON object, keeping config values' types.
    Json,
    /// `export KEY='…'` lines for POSIX sh (`. ./file`).
    Shell,
}

impl ExportFormat {
    pub fn query(self) -> &'static str {
        match self {
            ExportFormat::Dotenv => "dotenv",
            ExportFormat::Json => "json",
            ExportFormat::Shell => "shell",
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Dotenv)]
    pub format: ExportFormat,
    /// Write to this file (created with mode 0600) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Replace the file if it exists (by default an existing file is left alone).
    #[arg(long, requires = "file")]
    pub force: bool,
}

/// Fetches `url` with `format=…` added and writes the body where `args` say.
pub async fn export(client: &Client, mut url: Url, args: &ExportArgs) -> Result<()> {
    url.query_pairs_mut()
        .append_pair("format", args.format.query());
    let body = client.secret_body(url).await?;
    match &args.file {
        Some(path) => {
            write_private(path, &body, args.force)?;
            eprintln!("switchboard: wrote {} (mode 0600)", path.display());
            Ok(())
        }
        None => write_stdout(&body),
    }
}
