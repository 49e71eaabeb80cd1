//! `switchboard secrets …`: list, read, write, delete, export, history and rollback.
//!
//! Values travel only where asked: `list` and `history` show metadata, `get` prints one value
//! (audited by the server), `set` reads the value from stdin or a file, never from a plain
//! argument.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::api::{Page, SecretMeta, SecretVersion};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::export::{ExportArgs, export};
use crate::output::{Out, OutputArgs, Table, cell, time, write_stdout};
use crate::profiles::{Connection, Session, Target};
use crate::prompt;

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Names, versions and who changed them; never values.
    List,
    /// Print one secret's value (the read is audited).
    Get { name: String },
    /// Store a new version. The value comes from stdin (typed without echo at a terminal;
    /// one trailing newline dropped) or --from-file (byte for byte).
    Set(SetArgs),
    /// Delete a secret; its encrypted history stays.
    Delete { name: String },
    /// Every secret of the environment (--with-config: and its resolved config) as dotenv,
    /// JSON or shell lines; audited as one read.
    Export {
        /// Include the resolved configuration (a secret wins over a config key of its name).
        #[arg(long)]
        with_config: bool,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// A secret's versions, newest first (metadata only).
    History { name: String },
    /// Make an earlier version's value current again, as a new version.
    Rollback {
        name: String,
        /// The version to return to (see `history`).
        // Not `version`: that id is `--version`'s in the server's parser, which propagates it.
        #[arg(value_name = "VERSION")]
        to_version: u32,
    },
}

#[derive(Debug, Args)]
struct SetArgs {
    name: String,
    /// Read the value from this file, byte for byte (e.g. a PEM key).
    #[arg(long, value_name = "PATH", conflicts_with = "value")]
    from_file: Option<PathBuf>,
    /// The value as an argument. It would be visible in shell history and `ps`, so it is
    /// refused without --insecure-value-arg.
    #[arg(long, value_name = "VALUE")]
    value: Option<String>,
    /// Accept --value anyway (throwaway values in scripts and demos).
    #[arg(long)]
    insecure_value_arg: bool,
    /// Store an empty value. Refused otherwise: `printf '%s' "$UNSET" | … secrets set X`
    /// would blank the secret.
    #[arg(long)]
    allow_empty: bool,
}

pub async fn execute(args: SecretsArgs) -> Result<()> {
    let session = args.connection.connect(Some(&args.target)).await?;
    let out = args.output.out();
    let (project, env) = session.project_env()?;
    let client = &session.client;
    let secret =
        |name: &str, rest: &[&str]| client.env_item_url((project, env), "secrets", name, rest);
    match args.command {
        SecretsCommand::List => {
            list(client, &out, client.env_url(project, env, &["secrets"])).await
        }
        SecretsCommand::Get { name } => get(&session, &out, &secret(&name, &[])).await,
        SecretsCommand::Set(set_args) => {
            set(client, &out, &set_args, secret(&set_args.name, &[])).await
        }
        SecretsCommand::Delete { name } => {
            client
                .json(Method::DELETE, secret(&name, &[]), None)
                .await?;
            if !out.is_json() {
                out.line(&format!("deleted secret {name}"))?;
            }
            Ok(())
        }
        SecretsCommand::Export {
            with_config,
            export: export_args,
        } => {
            let mut url = client.env_url(project, env, &["secrets", "export"]);
            if with_config {
                url.query_pairs_mut().append_pair("include_config", "true");
            }
            export(client, url, &export_args).await
        }
        SecretsCommand::History { name } => {
            history(client, &out, secret(&name, &["versions"])).await
        }
        SecretsCommand::Rollback {
            name,
            to_version: version,
        } => rollback(client, &out, &name, version, secret(&name, &["rollback"])).await,
    }
}

async fn list(client: &Client, out: &Out, url: Url) -> Result<()> {
    let list = client.get(url).await?;
    out.emit(&list, |list: Page<SecretMeta>| {
        let mut table = Table::new(["NAME", "VERSION", "UPDATED", "UPDATED BY"]);
        for item in list.items {
            table.row([
                cell(&item.name),
                cell(&item.version),
                time(Some(&item.updated_at)),
                cell(&item.updated_by),
            ]);
        }
        table
    })
}

async fn set(client: &Client, out: &Out, args: &SetArgs, url: Url) -> Result<()> {
    let value = read_value(args).await?;
    if value.is_empty() && !args.allow_empty {
        return Err(Error::usage(
            "the value is empty (an unset variable?); nothing was stored\n  hint: pass --allow-empty to store an empty value",
        ));
    }
    let body =
        serde_json::to_vec(&json!({ "value": value.as_str(), "allow_empty": args.allow_empty }))
            .map_err(anyhow::Error::from)?;
    let response = client.send_bytes(Method::PUT, url, Some(body)).await?;
    let meta: Value = response.json().await.map_err(anyhow::Error::from)?;
    out.emit_line(&meta, |m: SecretMeta| {
        format!("stored {} version {}", cell(&m.name), cell(&m.version))
    })
}

async fn history(client: &Client, out: &Out, url: Url) -> Result<()> {
    let versions = client.get(url).await?;
    out.emit(&versions, |versions: Page<SecretVersion>| {
        let mut table = Table::new(["VERSION", "CREATED", "ACTOR", "COMMENT", "MASTER KEY"]);
        for item in versions.items {
            table.row([
                cell(&item.version),
                time(Some(&item.created_at)),
                cell(&item.actor),
                cell(&item.comment),
                cell(&item.master_key_id),
            ]);
        }
        table
    })
}

async fn rollback(client: &Client, out: &Out, name: &str, version: u32, url: Url) -> Result<()> {
    let meta = client
        .json(Method::POST, url, Some(&json!({ "version": version })))
        .await?;
    out.emit_line(&meta, |m: SecretMeta| {
        format!(
            "rolled {name} back to version {version}: now version {}",
            cell(&m.version)
        )
    })
}

/// The answer of a secret read; the value lives in wiped memory.
#[derive(Deserialize)]
struct SecretRead {
    value: Zeroizing<String>,
}

/// Prints the bare value (plus a newline only for a terminal, so `$(…)` and pipes get it
/// exactly), or the server's JSON.
async fn get(session: &Session, out: &Out, url: &Url) -> Result<()> {
    let body = session.client.secret_body(url.clone()).await?;
    if out.is_json() {
        write_stdout(&body)?;
        return write_stdout(b"\n");
    }
    let read: SecretRead = serde_json::from_slice(&body).map_err(anyhow::Error::from)?;
    write_stdout(read.value.as_bytes())?;
    if std::io::stdout().is_terminal() {
        write_stdout(b"\n")?;
    }
    Ok(())
}

async fn read_value(args: &SetArgs) -> Result<Zeroizing<String>> {
    match (&args.value, &args.from_file) {
        (Some(_), _) if !args.insecure_value_arg => Err(Error::usage(
            "a value given as an argument is visible in shell history and `ps`; pipe it on stdin, \
             use --from-file, or add --insecure-value-arg",
        )),
        (Some(value), _) => Ok(Zeroizing::new(value.clone())),
        (None, Some(path)) => prompt::from_file(path),
        (None, None) => prompt::from_stdin(&args.name).await,
    }
}
