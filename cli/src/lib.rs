//! The client side of the `switchboard` binary: commands for pipelines and operators that talk
//! to a Switchboard server over its REST API (the same API `curl` uses; no routes of their own).
//!
//! A crate of its own that does not depend on `switchboard-server`, so the dependency graph
//! guarantees what the paragraph above promises. The server's binary (`server/src/main.rs`)
//! hands it every invocation [`is_remote_invocation`] recognises, and lists [`RemoteCommand`]
//! in its `--help`.
//!
//! They share nothing with the server's settings: a remote command never reads the database,
//! the keyring or `SWITCHBOARD_LISTEN`, so it works on any machine that can reach the server.
//! Where the server is and who is asking comes from `--url`/`SWITCHBOARD_URL`,
//! `--token`/`SWITCHBOARD_TOKEN`, or a profile of the operator's config file ([`profiles`]).
//!
//! # Layout
//! - [`api`]: the answers the CLI reads, as types (a renamed field fails to parse instead of
//!   printing an empty cell); `--output json` prints the server's JSON as it is.
//! - [`client`]: the HTTP client: base URL, bearer token, pagination, problem+json answers.
//! - [`error`]: the one error type, and the exit code of each failure (the README lists them).
//! - [`profiles`]: connection arguments, the config file with named profiles, `profiles list`.
//! - [`output`]: tables for people, `--output json` for scripts; stdout that survives `| head`.
//! - [`run`] and [`child`]: `switchboard run -- CMD`: secrets as environment variables, then the
//!   child process with its signals forwarded and its exit status passed on.
//! - [`envfile`]: files that hold secrets (`--mount`, `--file`): private, never clobbered.
//! - [`export`]: `secrets export` and `config export`.
//! - [`flags`], [`config`], [`secrets`], [`tokens`], [`audit`], [`projects`], [`webhooks`]: one module per
//!   resource, each with its clap definitions next to what they do.
//! - [`plans`]: `flags plan …` (release plans) and `flags schedule …` (scheduled changes).
//! - [`prompt`]: reading a secret from the terminal without echo.
//! - [`oidc`]: keyless pipelines: the CI job's OIDC identity token exchanged for a short-lived
//!   token (`--oidc-policy`), and `login --oidc`.

pub mod api;
pub mod audit;
pub mod child;
pub mod client;
pub mod config;
pub mod envfile;
pub mod error;
pub mod export;
pub mod flags;
pub mod oidc;
pub mod oidc_policies;
pub mod output;
pub mod plans;
pub mod profiles;
pub mod projects;
pub mod prompt;
pub mod run;
pub mod secrets;
pub mod tokens;
pub mod webhooks;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use error::Error;

/// Commands that talk to a server over its REST API.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Run a command with the environment's secrets (and config) as environment variables.
    Run(run::RunArgs),
    /// Feature flags: list, create, enable, roll out, kill, history, rollback, release plans and
    /// scheduled changes.
    Flags(flags::FlagsArgs),
    /// Configuration: list, set, diff, promote, export, history and rollback.
    Config(config::ConfigArgs),
    /// Secrets: list, read, write, export, history and rollback.
    Secrets(secrets::SecretsArgs),
    /// Tokens: issue, list, revoke, and show the current one.
    Tokens(tokens::TokensArgs),
    /// Read the audit trail, newest first.
    Audit(audit::AuditArgs),
    /// Projects: list and create.
    Projects(projects::ProjectsArgs),
    /// Environments of a project: list and create.
    #[command(visible_alias = "envs")]
    Environments(projects::EnvironmentsArgs),
    /// Webhooks of a project: register, list, rotate the secret, delivery log, redeliver.
    Webhooks(webhooks::WebhooksArgs),
    /// Profiles of the CLI config file.
    Profiles(profiles::ProfilesArgs),
    /// In CI: exchange the job's OIDC identity token (`--oidc`) and print the token.
    Login(oidc::LoginArgs),
    /// Trust policies for keyless pipelines: list, get, create, replace, delete.
    OidcPolicies(oidc_policies::OidcPoliciesArgs),
}

/// The remote commands on their own, without the server's settings.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
struct RemoteCli {
    #[command(subcommand)]
    command: RemoteCommand,
}

/// Whether `args` (as `std::env::args_os`) start with a remote command. Those are parsed by
/// [`main`] without the server's settings, so a server-side variable in the environment (say a
/// bad `SWITCHBOARD_LISTEN` on an operator's machine) can never break them.
pub fn is_remote_invocation(args: &[OsString]) -> bool {
    let Some(first) = args.get(1).and_then(|arg| arg.to_str()) else {
        return false;
    };
    RemoteCli::command()
        .get_subcommands()
        .any(|command| command.get_name() == first || command.get_all_aliases().any(|a| a == first))
}

/// Parses `args` as a remote command and runs it; the process's exit code.
pub async fn main(args: &[OsString]) -> ExitCode {
    let parsed = RemoteCli::command()
        .try_get_matches_from(args)
        .and_then(|matches| RemoteCli::from_arg_matches(&matches));
    match parsed {
        Ok(cli) => execute(cli.command).await,
        Err(error) => {
            let _ = error.print();
            if error.use_stderr() {
                ExitCode::from(error::USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// Runs one remote command; failures are printed on stderr and become the exit code.
pub async fn execute(command: RemoteCommand) -> ExitCode {
    let outcome = match command {
        RemoteCommand::Run(args) => return run::execute(args).await,
        RemoteCommand::Flags(args) => flags::execute(args).await,
        RemoteCommand::Config(args) => config::execute(args).await,
        RemoteCommand::Secrets(args) => secrets::execute(args).await,
        RemoteCommand::Tokens(args) => tokens::execute(args).await,
        RemoteCommand::Audit(args) => audit::execute(args).await,
        RemoteCommand::Projects(args) => projects::execute_projects(args).await,
        RemoteCommand::Environments(args) => projects::execute_environments(args).await,
        RemoteCommand::Webhooks(args) => webhooks::execute(args).await,
        RemoteCommand::Profiles(args) => profiles::execute(args),
        RemoteCommand::Login(args) => oidc::login(args).await,
        RemoteCommand::OidcPolicies(args) => oidc_policies::execute(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_line_is_well_formed() {
        RemoteCli::command().debug_assert();
    }

    #[test]
    fn remote_commands_are_recognised_by_name_and_alias_only() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_remote_invocation(&args(&[
            "switchboard",
            "flags",
            "list"
        ])));
        assert!(is_remote_invocation(&args(&[
            "switchboard",
            "envs",
            "list"
        ])));
        assert!(is_remote_invocation(&args(&[
            "switchboard",
            "run",
            "--",
            "true"
        ])));
        assert!(!is_remote_invocation(&args(&["switchboard", "serve"])));
        assert!(!is_remote_invocation(&args(&[
            "switchboard",
            "--listen",
            "x"
        ])));
        assert!(!is_remote_invocation(&args(&["switchboard"])));
    }
}
