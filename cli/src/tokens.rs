//! `switchboard tokens …`: issue, list, revoke, and show the token in use.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::Result;
use crate::output::{OutputArgs, Table, cell, items, time, write_stdout};
use crate::profiles::Connection;

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Issue a token. Prints the token alone on stdout (it is shown only this once), so
    /// `T=$(switchboard tokens issue …)` captures it.
    Issue {
        /// Name recorded for the token (who or what uses it).
        #[arg(long)]
        name: String,
        /// Scope (repeat, or separate with commas): flags:read, flags:write, config:read,
        /// config:write, secrets:read, secrets:write, admin.
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            value_delimiter = ',',
            required = true
        )]
        scopes: Vec<String>,
        /// Projects it may touch (repeat or commas; `*` for all).
        #[arg(long = "project", value_name = "PROJECT", value_delimiter = ',')]
        projects: Vec<String>,
        /// Environments it may touch (repeat or commas; `*` for all).
        #[arg(long = "env", value_name = "ENV", value_delimiter = ',')]
        environments: Vec<String>,
        /// Lifetime: seconds, or a number with s, m, h or d (`15m`, `30d`). Default: the server's.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<u64>,
    },
    /// Token records within reach, newest first (never the tokens themselves).
    List,
    /// Revoke a token by id; refused from its next request on.
    Revoke { id: String },
    /// The record of the token making the request.
    Current,
}

fn parse_ttl(text: &str) -> std::result::Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: use seconds or a number with s, m, h or d"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a duration"))
}

pub async fn execute(args: TokensArgs) -> Result<()> {
    let session = args.connection.connect(None)?;
    let client = &session.client;
    let out = args.output.out();
    match args.command {
        TokensCommand::Issue {
            name,
            scopes,
            projects,
            environments,
            ttl,
        } => {
            let mut body = json!({ "name": name, "scopes": scopes });
            if !projects.is_empty() {
                body["projects"] = json!(projects);
            }
            if !environments.is_empty() {
                body["environments"] = json!(environments);
            }
            if let Some(ttl) = ttl {
                body["ttl_seconds"] = json!(ttl);
            }
            let response = client
                .send(Method::POST, client.url(&["v1", "tokens"]), Some(&body))
                .await?;
            let mut issued: Value = response.json().await.map_err(anyhow::Error::from)?;
            if out.is_json() {
                return crate::output::print_json(&issued);
            }
            eprintln!(
                "switchboard: issued token {} (id {}), expires {}; it is shown only this once",
                cell(&issued["name"]),
                cell(&issued["id"]),
                time(&issued["expires_at"])
            );
            let token = match issued["token"].take() {
                Value::String(token) => Zeroizing::new(token),
                _ => Zeroizing::new(String::new()),
            };
            write_stdout(format!("{}\n", token.as_str()).as_bytes())
        }
        TokensCommand::List => {
            let tokens = client.get_all(client.url(&["v1", "tokens"])).await?;
            out.emit(&json!(tokens), |tokens| {
                let mut table = Table::new([
                    "ID", "NAME", "SCOPES", "PROJECTS", "ENVS", "EXPIRES", "REVOKED",
                ]);
                for token in items(tokens) {
                    table.row(record_row(token));
                }
                table
            })
        }
        TokensCommand::Revoke { id } => {
            let record = client
                .json(Method::DELETE, client.url(&["v1", "tokens", &id]), None)
                .await?;
            out.emit_line(&record, |r| {
                format!("revoked token {} ({})", cell(&r["name"]), cell(&r["id"]))
            })
        }
        TokensCommand::Current => {
            let record = client.get(client.url(&["v1", "tokens", "current"])).await?;
            out.emit(&record, |record| {
                let mut table = Table::new([
                    "ID", "NAME", "SCOPES", "PROJECTS", "ENVS", "EXPIRES", "REVOKED",
                ]);
                table.row(record_row(record));
                table
            })
        }
    }
}

fn record_row(token: &Value) -> [String; 7] {
    let list = |value: &Value| {
        value
            .as_array()
            .map(|items| items.iter().map(cell).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| cell(value))
    };
    [
        cell(&token["id"]),
        cell(&token["name"]),
        list(&token["scopes"]),
        list(&token["projects"]),
        list(&token["environments"]),
        time(&token["expires_at"]),
        time(&token["revoked_at"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_in_seconds_or_with_a_unit() {
        assert_eq!(parse_ttl("900"), Ok(900));
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("2h"), Ok(7200));
        assert_eq!(parse_ttl("30d"), Ok(2_592_000));
        assert!(parse_ttl("15w").is_err());
        assert!(parse_ttl("m").is_err());
    }
}
