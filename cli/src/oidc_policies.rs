//! `switchboard oidc-policies …`: the project's trust policies for keyless pipelines (admin
//! token). `create`/`replace` take the policy as a JSON file, the shape `examples/ci/` ships
//! next to each pipeline (`-` reads stdin), so the policy lives in version control.

use std::io::Read;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::output::{OutputArgs, Table, cell};
use crate::profiles::{Connection, Target};

#[derive(Debug, Args)]
pub struct OidcPoliciesArgs {
    #[command(flatten)]
    connection: Connection,
    /// The project (policies belong to a project, not to an environment).
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The project's trust policies.
    List,
    /// One policy, as JSON.
    Get { name: String },
    /// Create a policy from a JSON file (`-`: stdin).
    Create { file: String },
    /// Replace a policy's content from a JSON file (`-`: stdin); the name stays.
    Replace { name: String, file: String },
    /// Delete a policy (tokens it issued expire on their own).
    Delete { name: String },
}

#[derive(Deserialize)]
struct Policy {
    name: String,
    issuer: String,
    environments: Vec<String>,
    scopes: Vec<String>,
    ttl_seconds: u64,
}

fn read_policy(file: &str) -> Result<Value> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Local(anyhow::Error::from(e).context("reading stdin")))?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("cannot read {file}: {e}")))?;
    }
    serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("{file} is not a JSON policy: {e}")))
}

pub async fn execute(args: OidcPoliciesArgs) -> Result<()> {
    let session = args.connection.connect(Some(&args.target)).await?;
    let client = &session.client;
    let out = args.output.out();
    let project = session.project()?;
    let url = |rest: &[&str]| {
        let mut segments = vec!["v1", "projects", project, "oidc-policies"];
        segments.extend_from_slice(rest);
        client.url(&segments)
    };
    match args.command {
        Command::List => {
            let page = client.get(url(&[])).await?;
            out.emit(&page["items"], |policies: Vec<Policy>| {
                let mut table = Table::new(["NAME", "ISSUER", "ENVIRONMENTS", "SCOPES", "TTL"]);
                for p in policies {
                    table.row([
                        cell(&p.name),
                        cell(&p.issuer),
                        p.environments.join(","),
                        p.scopes.join(","),
                        format!("{}s", p.ttl_seconds),
                    ]);
                }
                table
            })
        }
        Command::Get { name } => crate::output::print_json(&client.get(url(&[&name])).await?),
        Command::Create { file } => {
            let body = read_policy(&file)?;
            let policy = client.json(Method::POST, url(&[]), Some(&body)).await?;
            out.emit_line(&policy, |p: Policy| {
                format!("created trust policy {project}/{}", cell(&p.name))
            })
        }
        Command::Replace { name, file } => {
            let body = read_policy(&file)?;
            let policy = client.json(Method::PUT, url(&[&name]), Some(&body)).await?;
            out.emit_line(&policy, |p: Policy| {
                format!("replaced trust policy {project}/{}", cell(&p.name))
            })
        }
        Command::Delete { name } => {
            client.json(Method::DELETE, url(&[&name]), None).await?;
            out.line(&format!("deleted trust policy {project}/{name}"))
        }
    }
}
