//! The `switchboard` command line: one binary for the server and its host-side commands.
//!
//! The binary's client commands (`flags`, `secrets`, `run`, …) belong to the `switchboard-cli`
//! crate, which this library does not depend on: [`run`] and [`command`] take them as a type
//! parameter, so `--help` lists every command while only `main.rs` knows both crates.

use std::ffi::OsString;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::auth::admin_request;
use crate::healthcheck::Probe;
use crate::keys::write_private_file;
use crate::settings::{Settings, apply_config_file, config_path_from};
use crate::startup::{Application, Core};
use crate::store::audit::Actor;
use crate::telemetry;

/// Switchboard: feature flags, per-environment configuration and encrypted secrets.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service. Never implied: a bare `switchboard` prints this help instead of
    /// creating a data directory wherever it was typed.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a new admin token to stdout (and nothing else); recorded in the audit log.
    /// Works whether or not the server is running.
    BootstrapToken {
        /// Name recorded for the token.
        #[arg(long, default_value = "bootstrap")]
        name: String,
        /// Lifetime in seconds (default 90 days).
        #[arg(long, default_value_t = 7_776_000,
              value_parser = clap::value_parser!(u64).range(60..=315_360_000))]
        ttl_secs: u64,
    },
    /// Re-wrap every secret's data key (and the token signing keys) under the keyring's active
    /// (first) master key. Safe while servers run; values are never decrypted. Prints a JSON
    /// report; retire the old key from the keyring once it reports no failures.
    RotateMasterKey,
    /// Probe the local server (at the `--listen` address; `0.0.0.0` means loopback): exit 0 if
    /// `/healthz` answers 200, 1 otherwise. For container health checks (the image has no curl).
    Healthcheck {
        /// Probe `/readyz` instead: started and able to serve traffic.
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=300))]
        timeout_secs: u64,
    },
}

/// The whole command line: the server's settings and commands, then the binary's other
/// commands `R` (the client ones), so that `--help` lists them all.
pub fn command<R: Subcommand>() -> clap::Command {
    use clap::builder::Resettable;
    let server = Cli::command();
    let keep = |text: Option<&clap::builder::StyledStr>| {
        text.cloned().map_or(Resettable::Reset, Resettable::Value)
    };
    let (about, long_about) = (keep(server.get_about()), keep(server.get_long_about()));
    // Augmenting also applies `R`'s own doc comment as the about text: keep the server's.
    R::augment_subcommands(server)
        .about(about)
        .long_about(long_about)
}

/// Parses `args` (config file, environment, flags), then runs the command. A command of `R`
/// reaches this parser only when server options precede it (`--data-dir x flags list`); it is
/// handed to `other`, whose exit code is the process's.
pub async fn run<R, F>(args: &[OsString], other: impl FnOnce(R) -> F) -> ExitCode
where
    R: Subcommand,
    F: Future<Output = ExitCode>,
{
    let cli = match parse::<R>(args) {
        Ok(Parsed::Server(cli)) => *cli,
        Ok(Parsed::Other(command)) => return other(command).await,
        Err(ParseFailure::Clap(error)) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Err(ParseFailure::Config(error)) => {
            eprintln!("switchboard: {error:#}");
            return ExitCode::from(2);
        }
    };
    let Some(command) = cli.command else {
        // A bare `switchboard` (or only settings): help on stderr and the usage exit code, as
        // clap answers a missing subcommand; nothing is created or bound.
        eprintln!("{}", command::<R>().render_help());
        return ExitCode::from(2);
    };
    let quiet = !matches!(command, Command::Serve);
    let mut settings = cli.settings;
    if quiet && settings.log == "info" {
        // Host-side commands print their result on stdout; keep stderr for problems only.
        settings.log = "warn".into();
    }
    let _telemetry = match telemetry::init(&settings) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("switchboard: SWITCHBOARD_LOG: {error:#}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::BootstrapToken { name, ttl_secs } => {
            bootstrap_token(settings, name, ttl_secs).await
        }
        Command::RotateMasterKey => rotate_master_key(settings).await,
        Command::Healthcheck {
            ready,
            timeout_secs,
        } => {
            let probe = if ready { Probe::Ready } else { Probe::Alive };
            let timeout = std::time::Duration::from_secs(timeout_secs);
            crate::healthcheck::check(settings.listen, probe, timeout).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

enum ParseFailure {
    Clap(clap::Error),
    Config(anyhow::Error),
}

enum Parsed<R> {
    Server(Box<Cli>),
    Other(R),
}

fn parse<R: Subcommand>(args: &[OsString]) -> Result<Parsed<R>, ParseFailure> {
    let mut command = command::<R>();
    if let Some(path) = config_path_from(args) {
        command = apply_config_file(command, &path).map_err(ParseFailure::Config)?;
    }
    let matches = command
        .try_get_matches_from(args)
        .map_err(ParseFailure::Clap)?;
    if matches.subcommand_name().is_some_and(R::has_subcommand) {
        return R::from_arg_matches(&matches)
            .map(Parsed::Other)
            .map_err(ParseFailure::Clap);
    }
    Cli::from_arg_matches(&matches)
        .map(|cli| Parsed::Server(Box::new(cli)))
        .map_err(ParseFailure::Clap)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.clone();
    crate::open_files::raise_open_files_limit(settings.max_streams);
    let mut app = Application::build(settings).await?;
    if let Some(token) = app.take_initial_admin_token() {
        show_initial_admin_token(&data_dir, &token)?;
    }
    tracing::info!(port = app.port(), "switchboard is listening");
    app.run_until_stopped().await?;
    tracing::info!("switchboard stopped");
    Ok(())
}

/// Shows the first admin token once: on the terminal when there is one, otherwise in a file only
/// the owner can read (so it never lands in a log collector).
fn show_initial_admin_token(data_dir: &std::path::Path, token: &str) -> anyhow::Result<()> {
    if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "\n==================== FIRST START ===================="
        )?;
        writeln!(
            err,
            "An admin token was created. It is shown only this once:\n"
        )?;
        writeln!(err, "{token}\n")?;
        writeln!(
            err,
            "Keep it safe; `switchboard bootstrap-token` issues another."
        )?;
        writeln!(
            err,
            "=====================================================\n"
        )?;
    } else {
        crate::local_files::create_private_dir(data_dir)?;
        let path = data_dir.join("initial-admin-token");
        // Written aside and renamed, so a reader never sees a half-written file.
        let partial = data_dir.join("initial-admin-token.partial");
        let _ = std::fs::remove_file(&partial);
        write_private_file(&partial, format!("{token}\n").as_bytes())?;
        std::fs::rename(&partial, &path)?;
        tracing::warn!(path = %path.display(), "first start: an admin token was written to this file (mode 0600); move it to a secret store and delete the file");
    }
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    core.store.close().await;
    eprintln!("switchboard: migrations applied");
    Ok(())
}

async fn bootstrap_token(settings: Settings, name: String, ttl_secs: u64) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    let mut request = admin_request(&name);
    request.ttl_secs = ttl_secs;
    let (_, token) = core
        .tokens
        .issue(&Actor::host("bootstrap-token"), request)
        .await?;
    core.store.close().await;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    out.flush()?;
    Ok(())
}

async fn rotate_master_key(settings: Settings) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    let report = crate::store::secrets::rotate_master_key(
        &core.store,
        &core.keyring,
        &Actor::host("rotate-master-key"),
    )
    .await?;
    core.store.close().await;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.failed > 0 {
        anyhow::bail!(
            "{} data key(s) could not be re-wrapped; keep the old master key until they are fixed",
            report.failed
        );
    }
    Ok(())
}
