//! `switchboard audit`: who changed or read what, newest first, with the server's filters.

use clap::Args;
use serde_json::json;

use crate::api::AuditEvent;
use crate::error::Result;
use crate::output::{OutputArgs, Table, cell, time};
use crate::profiles::Connection;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    output: OutputArgs,
    /// Only events of this project.
    #[arg(long)]
    project: Option<String>,
    /// Only events by this token id or actor name (e.g. `host:bootstrap-token`).
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (`secret.read`) or a prefix ending in `*` (`flag.*`).
    #[arg(long)]
    action: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// How many events to show at most.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub async fn execute(args: AuditArgs) -> Result<()> {
    let session = args.connection.connect(None).await?;
    let client = &session.client;
    let mut url = client.url(&["v1", "audit"]);
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in [
            ("project", &args.project),
            ("actor", &args.actor),
            ("action", &args.action),
            ("since", &args.since),
            ("until", &args.until),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    let events = client.get_up_to(url, args.limit).await?;
    args.output
        .out()
        .emit(&json!(events), |events: Vec<AuditEvent>| {
            let mut table = Table::new(["TIME", "ACTOR", "ACTION", "TARGET", "SOURCE"]);
            for event in events {
                table.row([
                    time(Some(&event.at)),
                    cell(&event.actor.name),
                    cell(&event.action),
                    cell(&event.target),
                    cell(&event.source_ip),
                ]);
            }
            table
        })
}
