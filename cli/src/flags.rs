//! `switchboard flags …`: definitions, per-environment state, the one-line operator actions
//! (enable, disable, rollout, kill), the environment's kill switch, history and rollback.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::{Out, OutputArgs, Table, cell, items, time};
use crate::profiles::{Connection, Target};

#[derive(Debug, Args)]
pub struct FlagsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: FlagsCommand,
}

#[derive(Debug, Subcommand)]
enum FlagsCommand {
    /// The project's flags, with their state in the environment when one is given.
    List,
    /// A flag's definition, and its state in the environment when one is given.
    Get { key: String },
    /// Create a flag; it starts off in every environment.
    Create(CreateArgs),
    /// Replace the flag's state in the environment with a JSON document (see `FlagState` in
    /// openapi.yaml) from --from-file or stdin.
    Set {
        key: String,
        /// File holding the state (default: stdin).
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
    },
    /// Delete a flag, with its state and history, in every environment.
    Delete { key: String },
    /// Turn the flag on in the environment.
    Enable { key: String },
    /// Turn the flag off in the environment.
    Disable { key: String },
    /// Serve a variant to a percentage of callers (sticky: widening only adds callers).
    Rollout {
        key: String,
        /// 0 to 100, in steps of 0.01 (`25` or `25%`).
        #[arg(value_parser = parse_percentage)]
        percentage: f64,
        /// Variant served to the share (default `on`; required for non-boolean flags).
        #[arg(long)]
        variant: Option<String>,
        /// Variant served to the rest (default `off`; required for non-boolean flags).
        #[arg(long)]
        otherwise: Option<String>,
    },
    /// Kill one flag: turn it off in the environment at once (same as `disable`).
    Kill { key: String },
    /// Pull the environment's kill switch: every flag serves its off variant at once.
    KillAll {
        /// Why, for the audit trail and whoever restores it.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Release the environment's kill switch: every flag serves its stored state again.
    Restore,
    /// The flag's states in the environment, newest first.
    History {
        key: String,
        /// How many versions to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Make an earlier state of the flag current again, as a new version.
    Rollback {
        key: String,
        /// The version to return to (see `history`).
        // Not `version`: that id is `--version`'s in the server's parser, which propagates it.
        #[arg(value_name = "VERSION")]
        to_version: u32,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    key: String,
    /// Value type of the flag.
    #[arg(long = "type", value_enum, default_value_t = FlagType::Boolean)]
    flag_type: FlagType,
    #[arg(long)]
    description: Option<String>,
    /// A variant as KEY=VALUE (repeat); VALUE is JSON for number and json flags. Boolean flags
    /// get `on`/`off` without any.
    #[arg(long = "variant", value_name = "KEY=VALUE")]
    variants: Vec<String>,
    /// A tag (repeat).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Team or person responsible for the flag.
    #[arg(long)]
    owner: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FlagType {
    Boolean,
    String,
    Number,
    Json,
}

fn parse_percentage(text: &str) -> std::result::Result<f64, String> {
    let number: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if (0.0..=100.0).contains(&number) {
        Ok(number)
    } else {
        Err(format!("{text} is not between 0 and 100"))
    }
}

pub async fn execute(args: FlagsArgs) -> Result<()> {
    let session = args.connection.connect(Some(&args.target))?;
    let out = args.output.out();
    let client = &session.client;
    let project = session.project()?;
    let definition = |key: &str| client.url(&["v1", "projects", project, "flags", key]);
    let state = |key: &str, action: &[&str]| -> Result<Url> {
        let mut segments = vec!["flags", key];
        segments.extend_from_slice(action);
        Ok(client.env_url(project, session.environment()?, &segments))
    };
    match args.command {
        FlagsCommand::List => list(client, &out, project, session.environment_if_any()).await,
        FlagsCommand::Get { key } => {
            let flag = client.get(definition(&key)).await?;
            let state = match session.environment_if_any() {
                Some(env) => {
                    client
                        .get(client.env_url(project, env, &["flags", &key]))
                        .await?
                }
                None => Value::Null,
            };
            out.emit(&json!({ "flag": flag, "state": state }), describe)
        }
        FlagsCommand::Create(create) => {
            let body = create_body(&create)?;
            let flag = client
                .json(
                    Method::POST,
                    client.url(&["v1", "projects", project, "flags"]),
                    Some(&body),
                )
                .await?;
            out.emit_line(&flag, |f| {
                format!(
                    "created {} flag {}; it is off in every environment",
                    cell(&f["type"]),
                    cell(&f["key"])
                )
            })
        }
        FlagsCommand::Set { key, from_file } => {
            let document = read_document(from_file.as_ref())?;
            let view = client
                .json(Method::PUT, state(&key, &[])?, Some(&document))
                .await?;
            out.emit_line(&view, summary_line)
        }
        FlagsCommand::Delete { key } => {
            client.json(Method::DELETE, definition(&key), None).await?;
            if !out.is_json() {
                out.line(&format!("deleted flag {key} in every environment"))?;
            }
            Ok(())
        }
        FlagsCommand::Enable { key } => {
            let view = client
                .json(Method::POST, state(&key, &["enable"])?, None)
                .await?;
            out.emit_line(&view, summary_line)
        }
        FlagsCommand::Disable { key } | FlagsCommand::Kill { key } => {
            let view = client
                .json(Method::POST, state(&key, &["disable"])?, None)
                .await?;
            out.emit_line(&view, summary_line)
        }
        FlagsCommand::Rollout {
            key,
            percentage,
            variant,
            otherwise,
        } => {
            let mut body = json!({ "percentage": percentage });
            if let Some(variant) = variant {
                body["variant"] = json!(variant);
            }
            if let Some(otherwise) = otherwise {
                body["otherwise"] = json!(otherwise);
            }
            let view = client
                .json(Method::POST, state(&key, &["rollout"])?, Some(&body))
                .await?;
            out.emit_line(&view, summary_line)
        }
        FlagsCommand::KillAll { reason } => {
            let body = reason.map(|reason| json!({ "reason": reason }));
            let url = client.env_url(project, session.environment()?, &["kill"]);
            let switch = client.json(Method::POST, url, body.as_ref()).await?;
            out.emit_line(&switch, |s| {
                format!(
                    "kill switch pulled in {}: every flag serves its off variant",
                    cell(&s["environment"])
                )
            })
        }
        FlagsCommand::Restore => {
            let url = client.env_url(project, session.environment()?, &["kill"]);
            let switch = client.json(Method::DELETE, url, None).await?;
            out.emit_line(&switch, |s| {
                format!(
                    "kill switch released in {}: every flag serves its stored state again",
                    cell(&s["environment"])
                )
            })
        }
        FlagsCommand::History { key, limit } => {
            let versions = client.get_up_to(state(&key, &["versions"])?, limit).await?;
            out.emit(&json!({ "items": versions }), |versions| {
                let mut table = Table::new(["VERSION", "CREATED", "ACTOR", "COMMENT", "STATE"]);
                for item in items(versions) {
                    table.row([
                        cell(&item["version"]),
                        time(&item["created_at"]),
                        cell(&item["actor"]),
                        cell(&item["comment"]),
                        state_summary(&item["state"]),
                    ]);
                }
                table
            })
        }
        FlagsCommand::Rollback {
            key,
            to_version: version,
        } => {
            let view = client
                .json(
                    Method::POST,
                    state(&key, &["rollback"])?,
                    Some(&json!({ "version": version })),
                )
                .await?;
            out.emit_line(&view, summary_line)
        }
    }
}

/// Definitions, plus each flag's state in `env` from one snapshot read (not one request per
/// flag); the kill switch is named on stderr when it is pulled.
async fn list(client: &Client, out: &Out, project: &str, env: Option<&str>) -> Result<()> {
    let mut flags = client
        .get_all(client.url(&["v1", "projects", project, "flags"]))
        .await?;
    if let Some(env) = env {
        let mut url = client.url(&["v1", "sdk", "snapshot"]);
        url.query_pairs_mut()
            .append_pair("project", project)
            .append_pair("environment", env);
        let snapshot = client.get(url).await?;
        for flag in &mut flags {
            let state = snapshot["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["key"] == flag["key"])
                .map(|f| f["state"].clone());
            flag["state"] = state.unwrap_or(Value::Null);
        }
        let switch = client.get(client.env_url(project, env, &["kill"])).await?;
        if switch["killed"] == true && !out.is_json() {
            eprintln!(
                "switchboard: the kill switch of {env} is pulled (by {}, {}): every flag serves its off variant",
                cell(&switch["killed_by"]),
                cell(&switch["reason"])
            );
        }
    }
    out.emit(&json!(flags), |flags| {
        let mut table = match env {
            Some(_) => Table::new(["KEY", "TYPE", "STATE", "DESCRIPTION"]),
            None => Table::new(["KEY", "TYPE", "VARIANTS", "DESCRIPTION"]),
        };
        for flag in items(flags) {
            let third = match env {
                Some(_) => state_summary(&flag["state"]),
                None => variant_keys(flag),
            };
            table.row([
                cell(&flag["key"]),
                cell(&flag["type"]),
                third,
                cell(&flag["description"]),
            ]);
        }
        table
    })
}

fn variant_keys(flag: &Value) -> String {
    let keys: Vec<String> = flag["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| cell(&v["key"]))
        .collect();
    keys.join(",")
}

/// `on: on 25% / off 75%`, `on: dark (+2 rules)`, `off: off`.
pub fn state_summary(state: &Value) -> String {
    if state.is_null() {
        return "-".into();
    }
    let rules = state["rules"].as_array().map_or(0, Vec::len);
    let rules = match rules {
        0 => String::new(),
        1 => " (+1 rule)".into(),
        n => format!(" (+{n} rules)"),
    };
    match state["enabled"].as_bool() {
        Some(true) => format!("on: {}{rules}", serve_summary(&state["default_serve"])),
        _ => format!("off: {}", cell(&state["off_variant"])),
    }
}

fn serve_summary(serve: &Value) -> String {
    if let Some(variant) = serve.get("variant") {
        return cell(variant);
    }
    let arms: Vec<String> = serve["split"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|arm| {
            let weight = arm["weight"].as_f64().unwrap_or(0.0) / 100.0;
            format!("{} {weight}%", cell(&arm["variant"]))
        })
        .collect();
    arms.join(" / ")
}

fn summary_line(view: &Value) -> String {
    let killed = if view["killed"] == true {
        " (the environment's kill switch is pulled: serving off)"
    } else {
        ""
    };
    format!(
        "{} in {}: {}{killed}",
        cell(&view["flag"]),
        cell(&view["environment"]),
        state_summary(view)
    )
}

/// `flags get`: one property per line.
fn describe(both: &Value) -> Table {
    let flag = &both["flag"];
    let mut table = Table::new(["FIELD", "VALUE"]);
    let variants: Vec<String> = flag["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| format!("{}={}", cell(&v["key"]), v["value"]))
        .collect();
    table
        .row(["key".into(), cell(&flag["key"])])
        .row(["type".into(), cell(&flag["type"])])
        .row(["description".into(), cell(&flag["description"])])
        .row(["variants".into(), variants.join(", ")])
        .row(["owner".into(), cell(&flag["owner"])])
        .row(["tags".into(), cell(&flag["tags"])]);
    let state = &both["state"];
    if !state.is_null() {
        table
            .row(["environment".into(), cell(&state["environment"])])
            .row(["state".into(), state_summary(state)])
            .row(["killed".into(), cell(&state["killed"])])
            .row(["version".into(), cell(&state["version"])])
            .row(["updated".into(), time(&state["updated_at"])]);
    }
    table
}

fn create_body(create: &CreateArgs) -> Result<Value> {
    let flag_type = match create.flag_type {
        FlagType::Boolean => "boolean",
        FlagType::String => "string",
        FlagType::Number => "number",
        FlagType::Json => "json",
    };
    let mut body = json!({ "key": create.key, "type": flag_type });
    if !create.variants.is_empty() {
        let variants = create
            .variants
            .iter()
            .map(|text| {
                let (key, value) = text.split_once('=').ok_or_else(|| {
                    Error::usage(format!("--variant {text:?}: expected KEY=VALUE"))
                })?;
                // A string flag's values are strings even when they look like numbers.
                let value = match create.flag_type {
                    FlagType::String => json!(value),
                    _ => serde_json::from_str(value).unwrap_or_else(|_| json!(value)),
                };
                Ok(json!({ "key": key, "value": value }))
            })
            .collect::<Result<Vec<_>>>()?;
        body["variants"] = json!(variants);
    }
    if let Some(description) = &create.description {
        body["description"] = json!(description);
    }
    if !create.tags.is_empty() {
        body["tags"] = json!(create.tags);
    }
    if let Some(owner) = &create.owner {
        body["owner"] = json!(owner);
    }
    Ok(body)
}

/// A JSON document from a file or stdin.
fn read_document(path: Option<&PathBuf>) -> Result<Value> {
    let text = match path {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the state from stdin")?;
            text
        }
    };
    serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("the flag state is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_take_an_optional_sign_and_stay_in_range() {
        assert_eq!(parse_percentage("25"), Ok(25.0));
        assert_eq!(parse_percentage("12.5%"), Ok(12.5));
        assert!(parse_percentage("101").is_err());
        assert!(parse_percentage("half").is_err());
    }

    #[test]
    fn states_read_as_one_line() {
        let split = json!({"enabled": true, "off_variant": "off", "rules": [{}],
            "default_serve": {"split": [{"variant": "on", "weight": 2500}, {"variant": "off", "weight": 7500}]}});
        assert_eq!(state_summary(&split), "on: on 25% / off 75% (+1 rule)");
        let off =
            json!({"enabled": false, "off_variant": "off", "default_serve": {"variant": "on"}});
        assert_eq!(state_summary(&off), "off: off");
    }
}
