//! `switchboard tokens …`: issue, list, revoke, and show the token in use.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::api::TokenRecord;
use crate::client::Client;
use crate::error::Result;
use crate::output::{Out, OutputArgs, Table, cell, print_json, time, write_stdout};
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
    let session = args.connection.connect(None).await?;
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
            issue(client, &out, &body).await
        }
        TokensCommand::List => list(client, &out).await,
        TokensCommand::Revoke { id } => revoke(client, &out, &id).await,
        TokensCommand::Current => current(client, &out).await,
    }
}

/// The answer of an issue: the token, shown only this once, and its record.
#[derive(Deserialize)]
struct Issued {
    token: Zeroizing<String>,
    #[serde(flatten)]
    record: TokenRecord,
}

async fn issue(client: &Client, out: &Out, body: &Value) -> Result<()> {
    let response = client
        .send(Method::POST, client.url(&["v1", "tokens"]), Some(body))
        .await?;
    if out.is_json() {
        let issued: Value = response.json().await.map_err(anyhow::Error::from)?;
        return print_json(&issued);
    }
    let body = Zeroizing::new(
        response
            .bytes()
            .await
            .map_err(anyhow::Error::from)?
            .to_vec(),
    );
    let issued: Issued = serde_json::from_slice(&body).map_err(anyhow::Error::from)?;
    eprintln!(
        "switchboard: issued token {} (id {}), expires {}; it is shown only this once",
        cell(&issued.record.name),
        cell(&issued.record.id),
        time(Some(&issued.record.expires_at))
    );
    write_stdout(format!("{}\n", issued.token.as_str()).as_bytes())
}

async fn list(client: &Client, out: &Out) -> Result<()> {
    let tokens = client.get_all(client.url(&["v1", "tokens"])).await?;
    out.emit(&json!(tokens), |tokens: Vec<TokenRecord>| {
        let mut table = Table::new(HEADER);
        for token in &tokens {
            table.row(record_row(token));
        }
        table
    })
}

async fn revoke(client: &Client, out: &Out, id: &str) -> Result<()> {
    let record = client
        .json(Method::DELETE, client.url(&["v1", "tokens", id]), None)
        .await?;
    out.emit_line(&record, |r: Revoked| {
        let mut text = format!(
            "revoked token {} ({})",
            cell(&r.record.name),
            cell(&r.record.id)
        );
        if !r.revoked_with.is_empty() {
            text.push_str(&format!(
                "\nand {} token(s) it issued, revoked with it:",
                r.revoked_with.len()
            ));
            for id in &r.revoked_with {
                text.push_str(&format!("\n  {}", cell(id)));
            }
        }
        text
    })
}

/// The answer of a revocation: the token, and the tokens it issued (directly or not), which
/// went with it.
#[derive(Deserialize)]
struct Revoked {
    #[serde(flatten)]
    record: TokenRecord,
    #[serde(default)]
    revoked_with: Vec<String>,
}

async fn current(client: &Client, out: &Out) -> Result<()> {
    let record = client.get(client.url(&["v1", "tokens", "current"])).await?;
    out.emit(&record, |record: TokenRecord| {
        let mut table = Table::new(HEADER);
        table.row(record_row(&record));
        table
    })
}

const HEADER: [&str; 7] = [
    "ID", "NAME", "SCOPES", "PROJECTS", "ENVS", "EXPIRES", "REVOKED",
];

fn record_row(token: &TokenRecord) -> [String; 7] {
    let list = |items: &[String]| items.iter().map(cell).collect::<Vec<_>>().join(",");
    [
        cell(&token.id),
        cell(&token.name),
        list(&token.scopes),
        list(&token.projects),
        list(&token.environments),
        time(Some(&token.expires_at)),
        time(token.revoked_at.as_deref()),
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
