//! `switchboard config …`: the environment's resolved configuration, its keys' history, diff
//! and promotion between environments, and export.

use clap::{Args, Subcommand};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::api::{ConfigEntry, ConfigVersion, Diff, Page, Promotion, ResolvedConfig};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::export::{ExportArgs, export};
use crate::output::{Out, OutputArgs, Table, as_text, cell, time};
use crate::profiles::{Connection, Target};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The resolved configuration: every key, its value and the environment it comes from.
    List,
    /// Print one key's resolved value (strings bare, other values as JSON).
    Get { key: String },
    /// Set the environment's own value of a key. VALUE is taken as JSON when it is valid JSON
    /// (`20`, `true`, `["a"]`, `"quoted"`), else as a string.
    Set {
        key: String,
        value: String,
        /// Always store VALUE as a string (`--string 20` stores "20").
        #[arg(long)]
        string: bool,
        /// What the key is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove the environment's own value; the key falls back to its parent's.
    Delete { key: String },
    /// The resolved configuration as dotenv, JSON or shell lines.
    Export(ExportArgs),
    /// What differs between another environment and this one (resolved values).
    Diff {
        /// The environment to compare with (what a promotion would copy from).
        #[arg(long, value_name = "ENV")]
        from: String,
    },
    /// Copy another environment's resolved values into this one, atomically.
    Promote {
        /// The environment to copy from.
        #[arg(long, value_name = "ENV")]
        from: String,
        /// Only these keys (repeat, or separate with commas).
        #[arg(long = "key", value_name = "KEY", value_delimiter = ',')]
        keys: Vec<String>,
        /// Also remove this environment's own keys that the source lacks.
        #[arg(long)]
        remove_missing: bool,
        /// Show exactly what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A key's history in the environment, newest first.
    History { key: String },
    /// Make an earlier version of a key current again, as a new version.
    Rollback {
        key: String,
        /// The version to return to (see `history`).
        // Not `version`: that id is `--version`'s in the server's parser, which propagates it.
        #[arg(value_name = "VERSION")]
        to_version: u32,
    },
}

pub async fn execute(args: ConfigArgs) -> Result<()> {
    let session = args.connection.connect(Some(&args.target)).await?;
    let out = args.output.out();
    let (project, env) = session.project_env()?;
    let client = &session.client;
    let key_url =
        |key: &str, rest: &[&str]| client.env_item_url((project, env), "config", key, rest);
    let env_url = |rest: &str| client.env_url(project, env, &[rest]);
    match args.command {
        ConfigCommand::List => list(client, &out, env_url("config")).await,
        ConfigCommand::Get { key } => {
            let entry = client.get(key_url(&key, &[])).await?;
            out.emit_line(&entry, |e: ConfigEntry| as_text(&e.value))
        }
        ConfigCommand::Set {
            key,
            value,
            string,
            description,
        } => {
            let mut body = json!({ "value": parse_value(&value, string)? });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            let entry = client
                .json(Method::PUT, key_url(&key, &[]), Some(&body))
                .await?;
            out.emit_line(&entry, |e: ConfigEntry| {
                format!("set {key} = {} in {env} (version {})", e.value, e.version)
            })
        }
        ConfigCommand::Delete { key } => {
            client
                .json(Method::DELETE, key_url(&key, &[]), None)
                .await?;
            if !out.is_json() {
                out.line(&format!("removed {key} from {env}"))?;
            }
            Ok(())
        }
        ConfigCommand::Export(export_args) => export(client, env_url("config"), &export_args).await,
        ConfigCommand::Diff { from } => {
            let mut url = env_url("diff");
            url.query_pairs_mut().append_pair("from", &from);
            let diff = client.get(url).await?;
            out.emit(&diff, |diff: Diff| diff_table(&diff, &from, env))
        }
        ConfigCommand::Promote {
            from,
            keys,
            remove_missing,
            dry_run,
        } => {
            let mut body =
                json!({ "from": from, "remove_missing": remove_missing, "dry_run": dry_run });
            if !keys.is_empty() {
                body["keys"] = json!(keys);
            }
            let promotion = client
                .json(Method::POST, env_url("promote"), Some(&body))
                .await?;
            out.emit(&promotion, |p: Promotion| {
                promotion_table(&p, dry_run, &from, env)
            })
        }
        ConfigCommand::History { key } => history(client, &out, key_url(&key, &["versions"])).await,
        ConfigCommand::Rollback {
            key,
            to_version: version,
        } => {
            let entry = client
                .json(
                    Method::POST,
                    key_url(&key, &["rollback"]),
                    Some(&json!({ "version": version })),
                )
                .await?;
            out.emit_line(&entry, |e: Option<ConfigEntry>| match e {
                // 204: the version rolled back to was a removal, or the token may not read
                // the value (the server shows values only to a token that could GET them).
                None => format!(
                    "rolled {key} back to version {version} in {env} (no value shown: a removal, \
                     or this token may not read it)"
                ),
                Some(e) => format!(
                    "rolled {key} back to version {version}: {} (now version {})",
                    e.value, e.version
                ),
            })
        }
    }
}

async fn list(client: &Client, out: &Out, url: Url) -> Result<()> {
    let resolved = client.get(url).await?;
    out.emit(&resolved, |resolved: ResolvedConfig| {
        let mut table = Table::new(["KEY", "VALUE", "SOURCE", "VERSION", "UPDATED"]);
        for entry in resolved.entries {
            table.row([
                cell(&entry.key),
                cell(&entry.value),
                cell(&entry.source),
                cell(&entry.version),
                time(Some(&entry.updated_at)),
            ]);
        }
        table
    })
}

async fn history(client: &Client, out: &Out, url: Url) -> Result<()> {
    let versions = client.get(url).await?;
    out.emit(&versions, |versions: Page<ConfigVersion>| {
        let mut table = Table::new(["VERSION", "VALUE", "CREATED", "ACTOR", "COMMENT"]);
        for item in versions.items {
            let value = match &item.value {
                None => "(removed)".to_owned(),
                Some(value) => cell(value),
            };
            table.row([
                cell(&item.version),
                value,
                time(Some(&item.created_at)),
                cell(&item.actor),
                cell(&item.comment),
            ]);
        }
        table
    })
}

/// The changes as a table, and a one-line verdict on stderr.
fn promotion_table(promotion: &Promotion, dry_run: bool, from: &str, env: &str) -> Table {
    eprintln!(
        "switchboard: {}",
        match (dry_run, promotion.changes.len()) {
            (_, 0) => format!("{env} already matches {from}: nothing to promote"),
            (true, n) =>
                format!("dry run: {n} change(s) from {from} to {env}; nothing was changed"),
            (false, n) => format!("promoted {n} change(s) from {from} to {env}"),
        }
    );
    let mut table = Table::new(["ACTION", "KEY", "BEFORE", "AFTER"]);
    for change in &promotion.changes {
        table.row([
            cell(&change.action),
            cell(&change.key),
            cell(&change.before),
            cell(&change.after),
        ]);
    }
    table
}

/// JSON when `text` is valid JSON (but not `null`, which the server refuses), else a string.
/// Text that starts like a JSON array, object or string but does not parse is a usage error
/// without `--string`: it is far more likely a typo (`'["a",'`) than a value meant as text,
/// and storing it as a string would break every reader expecting the JSON.
fn parse_value(text: &str, force_string: bool) -> Result<Value> {
    if force_string {
        return Ok(Value::String(text.to_owned()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(Value::String(text.to_owned())),
        Ok(value) => Ok(value),
        Err(error) if text.trim_start().starts_with(['[', '{', '"']) => Err(Error::usage(format!(
            "VALUE looks like JSON but is not valid JSON (line {}, column {}); nothing was stored\n  hint: fix it, or pass --string to store it as text",
            error.line(),
            error.column()
        ))),
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

fn diff_table(diff: &Diff, from: &str, to: &str) -> Table {
    // `+` only in the source (a promotion adds it), `-` only here, `~` different.
    let mut table = Table::new(["", "KEY", &from.to_uppercase(), &to.to_uppercase()]);
    for entry in &diff.added {
        table.row(["+".into(), cell(&entry.key), cell(&entry.value), "-".into()]);
    }
    for entry in &diff.changed {
        table.row([
            "~".into(),
            cell(&entry.key),
            cell(&entry.from),
            cell(&entry.to),
        ]);
    }
    for entry in &diff.removed {
        table.row(["-".into(), cell(&entry.key), "-".into(), cell(&entry.value)]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_when_they_parse_and_strings_otherwise() {
        let parse = |text: &str, string: bool| parse_value(text, string).unwrap();
        assert_eq!(parse("20", false), json!(20));
        assert_eq!(parse("true", false), json!(true));
        assert_eq!(parse("[\"a\"]", false), json!(["a"]));
        assert_eq!(parse("\"20\"", false), json!("20"));
        assert_eq!(parse("dark", false), json!("dark"));
        assert_eq!(parse("1.2.3", false), json!("1.2.3"));
        assert_eq!(parse("null", false), json!("null"));
        assert_eq!(parse("20", true), json!("20"));
        assert_eq!(parse("[\"a\",", true), json!("[\"a\","));
    }

    #[test]
    fn broken_json_needs_string_to_be_stored_as_text() {
        for text in ["[\"a\",", "{\"k\":", "\"unterminated", "  [1 2]"] {
            assert!(parse_value(text, false).is_err(), "{text}");
        }
    }
}
