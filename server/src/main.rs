//! The `switchboard` binary: the server's commands ([`switchboard_server::cli`]) and the client
//! ones ([`switchboard_cli`]) behind one name. The two libraries never meet except here, so the
//! client can only ever reach a server over HTTP.

use std::ffi::OsString;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if switchboard_cli::is_remote_invocation(&args) {
        // Parsed without the server's settings: their environment variables (a bad
        // SWITCHBOARD_LISTEN, a SWITCHBOARD_CONFIG for the server) are not the client's business.
        return switchboard_cli::main(&args).await;
    }
    switchboard_server::cli::run(&args, switchboard_cli::execute).await
}

#[cfg(test)]
mod tests {
    use switchboard_cli::RemoteCommand;

    #[test]
    fn the_remote_commands_fit_next_to_the_server_settings() {
        // Reached through the server's parser when server options come first; no argument of
        // theirs may clash with a global setting.
        switchboard_server::cli::command::<RemoteCommand>().debug_assert();
    }
}
