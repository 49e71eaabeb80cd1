//! Evaluates a flag against a running Switchboard server and prints every change until Ctrl-C
//! (or for `SWITCHBOARD_WATCH_SECS` seconds, so that a walkthrough or a script can run it too).
//!
//! ```sh
//! SWITCHBOARD_URL=http://127.0.0.1:8080 SWITCHBOARD_TOKEN=<sdk token> \
//!     cargo run -p switchboard-client --example quickstart
//! ```
//!
//! `SWITCHBOARD_FLAG` names the boolean flag to show (default `new-checkout`). Then flip it with
//! curl (see the README) and watch the output follow at once (the client holds the server's event
//! stream). `SWITCHBOARD_WATCH_SECS=N` stops watching after N seconds (`0`: evaluate once and
//! exit); unset, it watches until Ctrl-C.

use std::time::Duration;

use switchboard_client::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("SWITCHBOARD_TOKEN")
        .map_err(|_| "set SWITCHBOARD_TOKEN to an SDK token (scope flags:read)")?;
    let flag = std::env::var("SWITCHBOARD_FLAG").unwrap_or_else(|_| "new-checkout".into());
    let watch = match std::env::var("SWITCHBOARD_WATCH_SECS") {
        Ok(secs) => Some(Duration::from_secs(secs.trim().parse().map_err(
            |_| "SWITCHBOARD_WATCH_SECS must be a whole number of seconds",
        )?)),
        Err(_) => None,
    };

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
    match watch {
        Some(secs) if secs.is_zero() => {}
        Some(secs) => {
            println!(
                "watching {flag} for {} s; change it on the server",
                secs.as_secs()
            );
            tokio::select! {
                _ = tokio::time::sleep(secs) => {}
                stopped = tokio::signal::ctrl_c() => stopped?,
            }
        }
        None => {
            println!("watching {flag}; change it on the server, Ctrl-C to quit");
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
