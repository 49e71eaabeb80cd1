//! `switchboard flags …`: definitions, per-environment state, the one-line operator actions
//! (enable, disable, rollout, kill), the environment's kill switch, history and rollback.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::{FlagDefinition, FlagState, Serve, Snapshot};

use crate::api::{Flag, KillSwitch, ListedFlag, Page, StateVersion, StateView, parse};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::{Out, OutputArgs, Table, cell, time};
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
    /// Release plans: ramp the flag through steps under guards (see `flags plan --help`).
    Plan {
        #[command(subcommand)]
        command: crate::plans::PlanCommand,
    },
    /// Scheduled changes: one-off changes of the flag at a given time.
    Schedule {
        #[command(subcommand)]
        command: crate::plans::ScheduleCommand,
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
    /// Let client-side keys (`flags:evaluate`: browsers, mobile apps) evaluate the flag.
    #[arg(long)]
    client_visible: bool,
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
    let session = args.connection.connect(Some(&args.target)).await?;
    let out = args.output.out();
    let client = &session.client;
    let project = session.project()?;
    let definition = |key: &str| client.url(&["v1", "projects", project, "flags", key]);
    let state = |key: &str, action: &[&str]| -> Result<Url> {
        let env = session.environment()?;
        Ok(client.env_item_url((project, env), "flags", key, action))
    };
    let kill = || -> Result<Url> { Ok(client.env_url(project, session.environment()?, &["kill"])) };
    match args.command {
        FlagsCommand::List => list(client, &out, project, session.environment_if_any()).await,
        FlagsCommand::Get { key } => {
            let env = session.environment_if_any();
            get(
                client,
                &out,
                definition(&key),
                env.map(|env| client.env_item_url((project, env), "flags", &key, &[])),
            )
            .await
        }
        FlagsCommand::Create(create) => {
            let url = client.url(&["v1", "projects", project, "flags"]);
            create_flag(client, &out, url, &create).await
        }
        FlagsCommand::Set { key, from_file } => {
            let document = read_document(from_file.as_ref())?;
            let url = state(&key, &[])?;
            change_state(client, &out, Method::PUT, url, Some(&document)).await
        }
        FlagsCommand::Delete { key } => {
            client.json(Method::DELETE, definition(&key), None).await?;
            if !out.is_json() {
                out.line(&format!("deleted flag {key} in every environment"))?;
            }
            Ok(())
        }
        FlagsCommand::Enable { key } => {
            change_state(client, &out, Method::POST, state(&key, &["enable"])?, None).await
        }
        FlagsCommand::Disable { key } | FlagsCommand::Kill { key } => {
            change_state(client, &out, Method::POST, state(&key, &["disable"])?, None).await
        }
        FlagsCommand::Rollout {
            key,
            percentage,
            variant,
            otherwise,
        } => {
            let body = rollout_body(percentage, variant, otherwise);
            let url = state(&key, &["rollout"])?;
            change_state(client, &out, Method::POST, url, Some(&body)).await
        }
        FlagsCommand::KillAll { reason } => {
            let body = reason.map(|reason| json!({ "reason": reason }));
            let switch = client.json(Method::POST, kill()?, body.as_ref()).await?;
            out.emit_line(&switch, |s: KillSwitch| {
                format!(
                    "kill switch pulled in {}: every flag serves its off variant",
                    cell(&s.environment)
                )
            })
        }
        FlagsCommand::Restore => {
            let switch = client.json(Method::DELETE, kill()?, None).await?;
            out.emit_line(&switch, |s: KillSwitch| {
                format!(
                    "kill switch released in {}: every flag serves its stored state again",
                    cell(&s.environment)
                )
            })
        }
        FlagsCommand::Plan { command } => {
            let env = session.environment()?;
            crate::plans::execute_plan(client, &out, (project, env), command).await
        }
        FlagsCommand::Schedule { command } => {
            let env = session.environment()?;
            crate::plans::execute_schedule(client, &out, (project, env), command).await
        }
        FlagsCommand::History { key, limit } => {
            history(client, &out, state(&key, &["versions"])?, limit).await
        }
        FlagsCommand::Rollback {
            key,
            to_version: version,
        } => {
            let body = json!({ "version": version });
            let url = state(&key, &["rollback"])?;
            change_state(client, &out, Method::POST, url, Some(&body)).await
        }
    }
}

fn rollout_body(percentage: f64, variant: Option<String>, otherwise: Option<String>) -> Value {
    let mut body = json!({ "percentage": percentage });
    if let Some(variant) = variant {
        body["variant"] = json!(variant);
    }
    if let Some(otherwise) = otherwise {
        body["otherwise"] = json!(otherwise);
    }
    body
}

/// A write to the flag's state in the environment, then its new state on one line.
async fn change_state(
    client: &Client,
    out: &Out,
    method: Method,
    url: Url,
    body: Option<&Value>,
) -> Result<()> {
    let view = client.json(method, url, body).await?;
    if view.is_null() {
        // 204: the server shows the state only to a token that could GET it.
        return out.emit_line(&view, |_: Value| {
            "changed (this token may not read the flag's state)".to_owned()
        });
    }
    out.emit_line(&view, |view: StateView| summary_line(&view))
}

/// The definition, and the state in the environment when one is named.
async fn get(client: &Client, out: &Out, definition: Url, state: Option<Url>) -> Result<()> {
    let flag = client.get(definition).await?;
    let state = match state {
        Some(url) => client.get(url).await?,
        None => Value::Null,
    };
    out.emit(
        &json!({ "flag": flag, "state": state }),
        |both: Described| describe(&both),
    )
}

async fn create_flag(client: &Client, out: &Out, url: Url, create: &CreateArgs) -> Result<()> {
    let body = create_body(create)?;
    let flag = client.json(Method::POST, url, Some(&body)).await?;
    out.emit_line(&flag, |Flag { definition: f }| {
        format!(
            "created {} flag {}; it is off in every environment",
            f.flag_type.as_str(),
            cell(&f.key)
        )
    })
}

async fn history(client: &Client, out: &Out, url: Url, limit: usize) -> Result<()> {
    let versions = client.get_up_to(url, limit).await?;
    out.emit(
        &json!({ "items": versions }),
        |versions: Page<StateVersion>| {
            let mut table = Table::new(["VERSION", "CREATED", "ACTOR", "COMMENT", "STATE"]);
            for item in versions.items {
                table.row([
                    cell(&item.version),
                    time(Some(&item.created_at)),
                    cell(&item.actor),
                    cell(&item.comment),
                    state_summary(Some(&item.state)),
                ]);
            }
            table
        },
    )
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
        let snapshot: Snapshot = parse(&client.get(url).await?)?;
        for flag in &mut flags {
            let key = parse::<Flag>(flag)?.definition.key;
            let state = snapshot
                .flags
                .iter()
                .find(|f| f.key == key)
                .map(|f| &f.state);
            let state = serde_json::to_value(state).map_err(anyhow::Error::from)?;
            if let Value::Object(fields) = flag {
                fields.insert("state".into(), state);
            }
        }
        let switch: KillSwitch =
            parse(&client.get(client.env_url(project, env, &["kill"])).await?)?;
        if switch.killed && !out.is_json() {
            eprintln!(
                "switchboard: the kill switch of {env} is pulled (by {}, {}): every flag serves its off variant",
                cell(&switch.killed_by),
                cell(&switch.reason)
            );
        }
    }
    out.emit(&json!(flags), |flags: Vec<ListedFlag>| {
        let mut table = match env {
            Some(_) => Table::new(["KEY", "TYPE", "STATE", "DESCRIPTION"]),
            None => Table::new(["KEY", "TYPE", "VARIANTS", "DESCRIPTION"]),
        };
        for flag in flags {
            let third = match env {
                Some(_) => state_summary(flag.state.as_ref()),
                None => variant_keys(&flag.definition),
            };
            table.row([
                cell(&flag.definition.key),
                flag.definition.flag_type.as_str().to_owned(),
                third,
                cell(&flag.definition.description),
            ]);
        }
        table
    })
}

fn variant_keys(flag: &FlagDefinition) -> String {
    let keys: Vec<String> = flag.variants.iter().map(|v| cell(&v.key)).collect();
    keys.join(",")
}

/// `on: on 25% / off 75%`, `on: dark (+2 rules)`, `off: off`.
pub fn state_summary(state: Option<&FlagState>) -> String {
    let Some(state) = state else {
        return "-".into();
    };
    let rules = match state.rules.len() {
        0 => String::new(),
        1 => " (+1 rule)".into(),
        n => format!(" (+{n} rules)"),
    };
    if state.enabled {
        format!("on: {}{rules}", serve_summary(&state.default_serve))
    } else {
        format!("off: {}", cell(&state.off_variant))
    }
}

fn serve_summary(serve: &Serve) -> String {
    match serve {
        Serve::Variant(variant) => cell(variant),
        Serve::Split(split) => {
            let arms: Vec<String> = split
                .split
                .iter()
                .map(|arm| {
                    let weight = f64::from(arm.weight) / 100.0;
                    format!("{} {weight}%", cell(&arm.variant))
                })
                .collect();
            arms.join(" / ")
        }
    }
}

fn summary_line(view: &StateView) -> String {
    let killed = if view.killed {
        " (the environment's kill switch is pulled: serving off)"
    } else {
        ""
    };
    format!(
        "{} in {}: {}{killed}",
        cell(&view.flag),
        cell(&view.environment),
        state_summary(Some(&view.state))
    )
}

/// What `flags get` reads: the definition, and the state when an environment was named.
#[derive(Deserialize)]
struct Described {
    flag: Flag,
    state: Option<StateView>,
}

/// `flags get`: one property per line.
fn describe(both: &Described) -> Table {
    let flag = &both.flag.definition;
    let mut table = Table::new(["FIELD", "VALUE"]);
    let variants: Vec<String> = flag
        .variants
        .iter()
        .map(|v| format!("{}={}", cell(&v.key), v.value))
        .collect();
    // The server leaves out an empty tag list; shown as a missing value, as before.
    let tags = if flag.tags.is_empty() {
        "-".to_owned()
    } else {
        cell(&flag.tags)
    };
    table
        .row(["key".into(), cell(&flag.key)])
        .row(["type".into(), flag.flag_type.as_str().to_owned()])
        .row(["description".into(), cell(&flag.description)])
        .row(["variants".into(), variants.join(", ")])
        .row(["owner".into(), cell(&flag.owner)])
        .row(["tags".into(), tags]);
    if let Some(state) = &both.state {
        table
            .row(["environment".into(), cell(&state.environment)])
            .row(["state".into(), state_summary(Some(&state.state))])
            .row(["killed".into(), cell(&state.killed)])
            .row(["version".into(), cell(&state.version)])
            .row(["updated".into(), time(state.updated_at.as_deref())]);
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
    if create.client_visible {
        body["client_visible"] = json!(true);
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
        let split = json!({"enabled": true, "off_variant": "off", "rules": [{"serve": {"variant": "on"}}],
            "default_serve": {"split": [{"variant": "on", "weight": 2500}, {"variant": "off", "weight": 7500}]}});
        let split: FlagState = serde_json::from_value(split).unwrap();
        assert_eq!(
            state_summary(Some(&split)),
            "on: on 25% / off 75% (+1 rule)"
        );
        let off =
            json!({"enabled": false, "off_variant": "off", "default_serve": {"variant": "on"}});
        let off: FlagState = serde_json::from_value(off).unwrap();
        assert_eq!(state_summary(Some(&off)), "off: off");
    }
}
