//! `switchboard flags plan …` and `switchboard flags schedule …`: release plans (a flag ramped
//! through steps under guards) and one-off scheduled changes, over the same REST API as curl.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::api::{Page, ReleasePlan, ScheduledChange};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::{Out, Table, cell, time};

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// The flag's release plans in the environment, newest first.
    List { key: String },
    /// One plan: where it is, its last guard check, why it paused or stopped.
    Get { key: String, id: String },
    /// Create a plan from --step (and guard) options, or from a JSON document (--from-file).
    Create(Box<CreatePlan>),
    /// Start a pending plan: step 1 is written at once.
    Start { key: String, id: String },
    /// Pause a running plan (no check, no step until resumed).
    Pause { key: String, id: String },
    /// Resume a paused plan: guards are checked at once.
    Resume { key: String, id: String },
    /// Apply the next step now (or complete the plan after its last one).
    Skip { key: String, id: String },
    /// Abort the plan: the flag returns to its state before the plan.
    Abort { key: String, id: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OnFailure {
    /// Return the flag to its state before the plan.
    Rollback,
    /// Turn the flag off.
    Kill,
}

#[derive(Debug, Args)]
pub struct CreatePlan {
    key: String,
    /// A step as PERCENT[:HOLD], in order (repeat), e.g. `--step 1:10m --step 5:30m --step 100`.
    /// HOLD is seconds, or a number with ms, s, m, h or d.
    #[arg(long = "step", value_name = "PERCENT[:HOLD]", value_parser = parse_step)]
    steps: Vec<Value>,
    /// The plan as JSON (see `ReleasePlanRequest` in openapi.yaml) instead of the options.
    #[arg(long, value_name = "PATH", conflicts_with = "steps")]
    from_file: Option<PathBuf>,
    /// Name of a Prometheus guard (with --query, --fail-when and --threshold).
    #[arg(long, value_name = "NAME", requires_all = ["query", "fail_when", "threshold"])]
    prometheus_guard: Option<String>,
    /// The guard's PromQL instant query, e.g. an error ratio.
    #[arg(long, value_name = "PROMQL")]
    query: Option<String>,
    /// The guard fails when the value is `>`, `>=`, `<`, `<=`, `==` or `!=` the threshold.
    #[arg(long, value_name = "OP")]
    fail_when: Option<String>,
    #[arg(long, value_name = "NUMBER", allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// An HTTP check as NAME=URL (repeat): 2xx passes, anything else fails.
    #[arg(long = "http-guard", value_name = "NAME=URL")]
    http_guards: Vec<String>,
    /// What a failing guard does.
    #[arg(long, value_enum, default_value_t = OnFailure::Rollback)]
    on_failure: OnFailure,
    /// Consecutive failed checks before `--on-failure` acts.
    #[arg(long, default_value_t = 1)]
    failure_threshold: u32,
    /// Variant served to a step's share (default `on`; required for non-boolean flags).
    #[arg(long)]
    variant: Option<String>,
    /// Variant served to the rest (default `off`; required for non-boolean flags).
    #[arg(long)]
    otherwise: Option<String>,
    /// Start the plan at once.
    #[arg(long)]
    start: bool,
}

/// `PERCENT[:HOLD]` as a step of the API.
fn parse_step(text: &str) -> std::result::Result<Value, String> {
    let (percent, hold) = match text.split_once(':') {
        Some((percent, hold)) => (percent, Some(hold)),
        None => (text, None),
    };
    let percentage: f64 = percent
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?}: expected PERCENT[:HOLD], e.g. 5:30m"))?;
    let hold_seconds = hold.map(parse_hold).transpose()?.unwrap_or(0.0);
    Ok(json!({ "percentage": percentage, "hold_seconds": hold_seconds }))
}

/// `90`, `500ms`, `30s`, `10m`, `1h`, `1d` as seconds.
fn parse_hold(text: &str) -> std::result::Result<f64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("hold {text:?}: expected a number with ms, s, m, h or d"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("hold {text:?}: the unit must be ms, s, m, h or d")),
    };
    Ok(number * scale)
}

fn plan_body(create: &CreatePlan) -> Result<Value> {
    if let Some(path) = &create.from_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("reading {}: {e}", path.display())))?;
        return serde_json::from_str(&text)
            .map_err(|e| Error::usage(format!("the plan is not valid JSON: {e}")));
    }
    if create.steps.is_empty() {
        return Err(Error::usage("give at least one --step (or --from-file)"));
    }
    let mut guards = Vec::new();
    if let (Some(name), Some(query), Some(fail_when), Some(threshold)) = (
        &create.prometheus_guard,
        &create.query,
        &create.fail_when,
        create.threshold,
    ) {
        guards.push(json!({ "name": name, "prometheus": {
            "query": query, "fail_when": fail_when, "threshold": threshold } }));
    }
    for guard in &create.http_guards {
        let (name, url) = guard
            .split_once('=')
            .ok_or_else(|| Error::usage("--http-guard: expected NAME=URL"))?;
        guards.push(json!({ "name": name, "http": { "url": url } }));
    }
    let mut body = json!({
        "steps": create.steps,
        "guards": guards,
        "on_failure": match create.on_failure {
            OnFailure::Rollback => "rollback",
            OnFailure::Kill => "kill",
        },
        "failure_threshold": create.failure_threshold,
        "start": create.start,
    });
    if let Some(variant) = &create.variant {
        body["variant"] = json!(variant);
    }
    if let Some(otherwise) = &create.otherwise {
        body["otherwise"] = json!(otherwise);
    }
    Ok(body)
}

/// Runs a `flags plan` command for `project`/`env`.
pub async fn execute_plan(
    client: &Client,
    out: &Out,
    (project, env): (&str, &str),
    command: PlanCommand,
) -> Result<()> {
    let plans = |key: &str, rest: &[&str]| -> Url {
        let mut segments = vec!["plans"];
        segments.extend_from_slice(rest);
        client.env_item_url((project, env), "flags", key, &segments)
    };
    let (key, id, action) = match command {
        PlanCommand::List { key } => {
            let items = client.get_all(plans(&key, &[])).await?;
            return out.emit(&json!({ "items": items }), |page: Page<ReleasePlan>| {
                let mut table = Table::new(["ID", "STATUS", "STEP", "HOLD UNTIL", "REASON"]);
                for plan in page.items {
                    table.row([
                        cell(&plan.id),
                        cell(&plan.status),
                        step_cell(&plan),
                        time(plan.hold_until.as_deref()),
                        reason_cell(plan.reason.as_ref()),
                    ]);
                }
                table
            });
        }
        PlanCommand::Get { key, id } => {
            let plan = client.get(plans(&key, &[&id])).await?;
            return out.emit_line(&plan, |plan: ReleasePlan| summary(&plan));
        }
        PlanCommand::Create(create) => {
            let body = plan_body(&create)?;
            let plan = client
                .json(Method::POST, plans(&create.key, &[]), Some(&body))
                .await?;
            return out.emit_line(&plan, |plan: ReleasePlan| {
                format!("created {}", summary(&plan))
            });
        }
        PlanCommand::Start { key, id } => (key, id, "start"),
        PlanCommand::Pause { key, id } => (key, id, "pause"),
        PlanCommand::Resume { key, id } => (key, id, "resume"),
        PlanCommand::Skip { key, id } => (key, id, "skip"),
        PlanCommand::Abort { key, id } => (key, id, "abort"),
    };
    let plan = client
        .json(Method::POST, plans(&key, &[&id, action]), None)
        .await?;
    out.emit_line(&plan, |plan: ReleasePlan| summary(&plan))
}

fn step_cell(plan: &ReleasePlan) -> String {
    match plan.current_step {
        Some(n) => {
            let step = usize::try_from(n)
                .ok()
                .and_then(|n| plan.steps.get(n))
                .map(|s| match (s.percentage, s.enabled) {
                    (Some(p), _) => format!(" ({p}%)"),
                    (None, Some(true)) => " (on)".into(),
                    (None, Some(false)) => " (off)".into(),
                    _ => " (state)".into(),
                })
                .unwrap_or_default();
            format!("{}/{}{step}", n + 1, plan.steps.len())
        }
        None => format!("-/{}", plan.steps.len()),
    }
}

fn reason_cell(reason: Option<&Value>) -> String {
    let Some(reason) = reason else {
        return "-".into();
    };
    let kind = reason["kind"].as_str().unwrap_or("-");
    match (
        reason.get("guard"),
        reason.get("observed"),
        reason.get("detail"),
    ) {
        (Some(guard), Some(observed), _) => {
            format!("{kind}: {} observed {observed}", cell(guard))
        }
        (Some(guard), None, Some(detail)) => format!("{kind}: {} ({})", cell(guard), cell(detail)),
        (None, _, Some(detail)) => format!("{kind}: {}", cell(detail)),
        _ => kind.to_owned(),
    }
}

fn summary(plan: &ReleasePlan) -> String {
    format!(
        "plan {} of {} in {}: {}, step {}, reason {}",
        cell(&plan.id),
        cell(&plan.flag),
        cell(&plan.environment),
        cell(&plan.status),
        step_cell(plan),
        reason_cell(plan.reason.as_ref())
    )
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Scheduled changes of the environment (of one flag when KEY is given), pending first.
    List { key: Option<String> },
    /// Schedule a change of the flag at a time (RFC 3339, e.g. 2026-12-24T00:00:00Z).
    Create {
        key: String,
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Turn the flag on then.
        #[arg(long, group = "change")]
        enable: bool,
        /// Turn the flag off then.
        #[arg(long, group = "change")]
        disable: bool,
        /// Roll out to this percentage then.
        #[arg(long, group = "change", value_name = "PERCENT")]
        percentage: Option<f64>,
        /// Kept in the flag's history.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Cancel a pending scheduled change.
    Cancel { key: String, id: String },
}

/// Runs a `flags schedule` command for `project`/`env`.
pub async fn execute_schedule(
    client: &Client,
    out: &Out,
    (project, env): (&str, &str),
    command: ScheduleCommand,
) -> Result<()> {
    let schedules = |key: &str, rest: &[&str]| -> Url {
        let mut segments = vec!["schedules"];
        segments.extend_from_slice(rest);
        client.env_item_url((project, env), "flags", key, &segments)
    };
    match command {
        ScheduleCommand::List { key } => {
            let url = match &key {
                Some(key) => schedules(key, &[]),
                None => client.env_url(project, env, &["schedules"]),
            };
            let items = client.get_all(url).await?;
            out.emit(&json!({ "items": items }), |page: Page<ScheduledChange>| {
                let mut table = Table::new(["ID", "FLAG", "AT", "STATUS", "COMMENT"]);
                for item in page.items {
                    table.row([
                        cell(&item.id),
                        cell(&item.flag),
                        time(Some(&item.at)),
                        cell(&item.status),
                        cell(&item.comment),
                    ]);
                }
                table
            })
        }
        ScheduleCommand::Create {
            key,
            at,
            enable,
            disable,
            percentage,
            comment,
        } => {
            let mut body = json!({ "at": at, "comment": comment });
            match (enable, disable, percentage) {
                (true, false, None) => body["enabled"] = json!(true),
                (false, true, None) => body["enabled"] = json!(false),
                (false, false, Some(p)) => body["percentage"] = json!(p),
                _ => {
                    return Err(Error::usage(
                        "give one of --enable, --disable or --percentage",
                    ));
                }
            }
            let created = client
                .json(Method::POST, schedules(&key, &[]), Some(&body))
                .await?;
            out.emit_line(&created, |s: ScheduledChange| {
                format!(
                    "scheduled change {} of {} at {}",
                    cell(&s.id),
                    cell(&s.flag),
                    time(Some(&s.at))
                )
            })
        }
        ScheduleCommand::Cancel { key, id } => {
            let cancelled = client
                .json(Method::DELETE, schedules(&key, &[&id]), None)
                .await?;
            out.emit_line(&cancelled, |s: ScheduledChange| {
                format!("cancelled scheduled change {}", cell(&s.id))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_percent_and_hold() {
        assert_eq!(
            parse_step("5:30m").unwrap(),
            json!({ "percentage": 5.0, "hold_seconds": 1800.0 })
        );
        assert_eq!(
            parse_step("100%").unwrap(),
            json!({ "percentage": 100.0, "hold_seconds": 0.0 })
        );
        assert_eq!(parse_hold("500ms").unwrap(), 0.5);
        assert!(parse_step("five").is_err());
        assert!(parse_hold("3w").is_err());
    }
}
