//! The `switchboard` binary: a thin shell over [`switchboard_server::cli`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    switchboard_server::cli::run().await
}
