//! Evaluates a flag against a running Switchboard server and prints every change until Ctrl-C.
//!
//! ```sh
//! SWITCHBOARD_URL=http://127.0.0.1:8080 SWITCHBOARD_TOKEN=<sdk token> \
//!     cargo run -p switchboard-client --example quickstart
//! ```
//!
//! `SWITCHBOARD_FLAG` names the boolean flag to show (default `new-checkout`). Then flip it with
//! curl (see the README) and watch the output follow at once (the client holds the server's event
//! stream).

use std::time::Duration;

use switchboard_client::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("SWITCHBOARD_TOKEN")
        .map_err(|_| "set SWITCHBOARD_TOKEN to an SDK token (scope flags:read)")?;
    let flag = std::env::var("SWITCHBOARD_FLAG").unwrap_or_else(|_| "new-checkout".into());

    let client = Client::builder(url, token).build()?;
    match client.wait_ready(Duration::from_secs(5)).await {
        Ok(()) => println!("connected: revision {:?}", client.status().revision),
        Err(not_ready) => println!("{not_ready}"),
    }

    let users: Vec<Context> = (1..=5)
        .map(|i| Context::with_targeting_key(format!("user-{i}")))
        .collect();
    let show = {
        let (client, flag) = (client.clone(), flag.clone());
        move || {
            for user in &users {
                let details = client.bool_details(&flag, user, false);
                println!(
                    "  {flag} for {}: {} (variant {:?}, reason {}{})",
                    user.targeting_key().unwrap_or("?"),
                    details.value,
                    details.variant,
                    details.reason.as_str(),
                    details
                        .error_code
                        .map(|c| format!(", {c}"))
                        .unwrap_or_default(),
                );
            }
        }
    };
    show();

    let on_change = show.clone();
    client.on_flag_change(&flag, move |change| {
        println!("revision {} changed {:?}:", change.revision, change.flags);
        on_change();
    });
    println!("watching {flag}; change it on the server, Ctrl-C to quit");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
