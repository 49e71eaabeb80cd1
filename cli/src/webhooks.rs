//! `switchboard webhooks …`: a project's webhook endpoints, their delivery log and manual
//! redelivery (admin token for all the project's environments). The signing secret is printed
//! once, at `create` and `rotate-secret`; nothing else shows it again.

use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use crate::api::{Webhook, WebhookDelivery};
use crate::client::Client;
use crate::error::Result;
use crate::output::{Out, OutputArgs, Table, cell, time};
use crate::profiles::{Connection, Target};

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    connection: Connection,
    /// Project (default: the profile's).
    #[arg(
        long,
        short = 'p',
        env = "SWITCHBOARD_PROJECT",
        global = true,
        value_name = "PROJECT"
    )]
    project: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: WebhooksCommand,
}

/// The body a webhook is sent as.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Standard Webhooks: `{"type", "timestamp", "data"}`.
    Standard,
    /// `{"text": …}` for Slack-compatible incoming webhooks.
    Slack,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// The project's webhook endpoints.
    List,
    /// Register an endpoint; prints its signing secret (shown once).
    Create {
        /// Where deliveries are POSTed (https).
        #[arg(value_name = "URL")]
        endpoint: String,
        /// Events to deliver: `*`, an action (`flag.enable`) or a prefix (`flag.*`); repeatable
        /// or comma-separated. Default: every event.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long, value_enum, default_value = "standard")]
        format: Format,
        #[arg(long, default_value = "")]
        description: String,
        /// Create it disabled (nothing is queued for it until enabled).
        #[arg(long)]
        disabled: bool,
    },
    /// Change an endpoint's URL, events, format, description, or turn it on or off.
    Update {
        id: String,
        /// A new URL for the endpoint.
        #[arg(long = "endpoint-url", value_name = "URL")]
        endpoint_url: Option<String>,
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long, value_enum)]
        format: Option<Format>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Delete an endpoint with its delivery log.
    Delete { id: String },
    /// Replace the signing secret; prints the new one (shown once).
    RotateSecret { id: String },
    /// The delivery log, newest first.
    Deliveries {
        id: String,
        /// Only `pending`, `delivered` or `failed` deliveries.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send a delivery again now (same `webhook-id`).
    Redeliver { id: String, delivery: String },
}

pub async fn execute(args: WebhooksArgs) -> Result<()> {
    let target = Target {
        project: args.project,
        environment: None,
    };
    let session = args.connection.connect(Some(&target)).await?;
    let client = &session.client;
    let out = args.output.out();
    let project = session.project()?;
    let base = client.url(&["v1", "projects", project, "webhooks"]);
    let one = |id: &str, rest: &[&str]| {
        let mut segments = vec!["v1", "projects", project, "webhooks", id];
        segments.extend_from_slice(rest);
        client.url(&segments)
    };
    match args.command {
        WebhooksCommand::List => list(client, &out, base).await,
        WebhooksCommand::Create {
            endpoint,
            events,
            format,
            description,
            disabled,
        } => {
            let mut body = json!({
                "url": endpoint,
                "format": format.name(),
                "description": description,
                "enabled": !disabled,
            });
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            let created = client.json(Method::POST, base, Some(&body)).await?;
            show_secret(&out, &created, "created webhook")
        }
        WebhooksCommand::Update {
            id,
            endpoint_url,
            events,
            format,
            description,
            enable,
            disable,
        } => {
            let mut patch = Map::new();
            if let Some(url) = endpoint_url {
                patch.insert("url".into(), json!(url));
            }
            if !events.is_empty() {
                patch.insert("events".into(), json!(events));
            }
            if let Some(format) = format {
                patch.insert("format".into(), json!(format.name()));
            }
            if let Some(description) = description {
                patch.insert("description".into(), json!(description));
            }
            if enable || disable {
                patch.insert("enabled".into(), json!(enable));
            }
            let body = Value::Object(patch);
            let updated = client
                .json(Method::PATCH, one(&id, &[]), Some(&body))
                .await?;
            out.emit_line(&updated, |w: Webhook| format!("updated webhook {}", w.id))
        }
        WebhooksCommand::Delete { id } => {
            client.json(Method::DELETE, one(&id, &[]), None).await?;
            out.line(&format!("deleted webhook {id}"))
        }
        WebhooksCommand::RotateSecret { id } => {
            let rotated = client
                .json(Method::POST, one(&id, &["rotate-secret"]), None)
                .await?;
            show_secret(&out, &rotated, "rotated the secret of webhook")
        }
        WebhooksCommand::Deliveries { id, status, limit } => {
            let mut url = one(&id, &["deliveries"]);
            if let Some(status) = status {
                url.query_pairs_mut().append_pair("status", &status);
            }
            deliveries(client, &out, url, limit).await
        }
        WebhooksCommand::Redeliver { id, delivery } => {
            let url = one(&id, &["deliveries", &delivery, "redeliver"]);
            let answer = client.json(Method::POST, url, None).await?;
            out.emit_line(&answer, |_: Value| {
                format!("queued {delivery} for redelivery")
            })
        }
    }
}

async fn list(client: &Client, out: &Out, url: Url) -> Result<()> {
    let webhooks = client.get_all(url).await?;
    out.emit(&json!(webhooks), |webhooks: Vec<Webhook>| {
        let mut table = Table::new(["ID", "URL", "EVENTS", "FORMAT", "ENABLED", "DESCRIPTION"]);
        for w in webhooks {
            table.row([
                cell(&w.id),
                cell(&w.url),
                cell(&w.events.join(",")),
                cell(&w.format),
                cell(&w.enabled),
                cell(&w.description),
            ]);
        }
        table
    })
}

/// The answer of a creation or rotation: the secret on a line of its own, said to be shown once.
fn show_secret(out: &Out, answer: &Value, what: &str) -> Result<()> {
    out.emit_line(answer, |w: Webhook| {
        format!(
            "{what} {}\nsigning secret (shown once; verify deliveries with it): {}",
            w.id,
            w.secret.unwrap_or_default()
        )
    })
}

async fn deliveries(client: &Client, out: &Out, url: Url, limit: usize) -> Result<()> {
    let items = client.get_up_to(url, limit).await?;
    out.emit(&json!(items), |items: Vec<WebhookDelivery>| {
        let mut table = Table::new([
            "ID", "EVENT", "CREATED", "STATUS", "ATTEMPTS", "LAST", "NEXT",
        ]);
        for d in items {
            let last = match (
                d.last_status_code,
                d.log.last().and_then(|a| a.error.clone()),
            ) {
                (Some(code), _) => code.to_string(),
                (None, Some(error)) => error,
                (None, None) => String::new(),
            };
            table.row([
                cell(&d.id),
                cell(&d.event_type),
                time(Some(&d.created_at)),
                cell(&d.status),
                cell(&d.attempts),
                last,
                time(d.next_attempt_at.as_deref()),
            ]);
        }
        table
    })
}
