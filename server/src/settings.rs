//! Every setting is defined exactly once, here: its flag, its environment variable, its default
//! and its config-file key all come from the same `clap` argument.
//!
//! Precedence, highest first: command-line flag, environment variable, config file
//! (`--config` / `SWITCHBOARD_CONFIG`, TOML whose keys are the field names below), built-in
//! default. The config file is applied by turning its values into the arguments' defaults before
//! parsing, so there is no second definition to drift out of step.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

use crate::keys::MasterKeySource;

/// Settings shared by every subcommand (the server and the host-side admin commands).
#[derive(Clone, Args)]
pub struct Settings {
    /// Optional TOML config file; its keys are the setting names (e.g. `listen`, `data_dir`).
    #[arg(long, env = "SWITCHBOARD_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "SWITCHBOARD_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Directory for the embedded SQLite database, the generated master key and the first admin
    /// token. Created if missing.
    #[arg(
        long,
        env = "SWITCHBOARD_DATA_DIR",
        default_value = "./switchboard-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://…`. Default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "SWITCHBOARD_DB_MAX_CONNECTIONS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Seconds a request waits for the database before answering 503 (every request answers
    /// within this plus a second).
    #[arg(long, env = "SWITCHBOARD_DB_TIMEOUT_SECS", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_timeout_secs: u64,

    /// Seconds `serve` keeps retrying (with backoff) a database that is not reachable at start
    /// before giving up; alive (`/healthz`) and not ready (`/readyz`) meanwhile.
    #[arg(long, env = "SWITCHBOARD_START_TIMEOUT_SECS", default_value_t = 300, global = true,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub start_timeout_secs: u64,

    /// Redis URL (`redis://…`); enables the shared cache. Default: in-process cache only.
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel this deployment uses, so that several
    /// deployments (or parallel test runs) can share one Redis without hearing each other.
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_PREFIX",
        default_value = "switchboard",
        global = true
    )]
    pub redis_prefix: String,

    /// Master keyring: `ID:BASE64KEY[,ID:BASE64KEY…]`, first entry active. Overrides the key file.
    #[arg(
        long,
        env = "SWITCHBOARD_MASTER_KEY",
        global = true,
        hide_env_values = true
    )]
    pub master_key: Option<String>,

    /// File holding the master keyring (same format, one entry per line). Default:
    /// `DATA_DIR/master.key`, generated on first start.
    #[arg(
        long,
        env = "SWITCHBOARD_MASTER_KEY_FILE",
        global = true,
        value_name = "PATH"
    )]
    pub master_key_file: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(
        long,
        env = "SWITCHBOARD_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `info,sqlx=warn`).
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", default_value_t = 1_048_576, global = true,
          value_parser = clap::value_parser!(u64).range(1024..=67_108_864))]
    pub max_body_bytes: u64,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "SWITCHBOARD_WORKERS", default_value_t = 0, global = true)]
    pub workers: usize,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(
        long,
        env = "SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_timeout_secs: u64,

    /// Lifetime of issued tokens when the request names none, in seconds (default 90 days).
    #[arg(long, env = "SWITCHBOARD_TOKEN_TTL_SECS", default_value_t = 7_776_000, global = true,
          value_parser = clap::value_parser!(u64).range(60..=315_360_000))]
    pub token_ttl_secs: u64,

    /// Seconds a verified token is trusted from memory before its record is read again. While
    /// the database is down a verified token stays trusted until its own expiry regardless.
    #[arg(long, env = "SWITCHBOARD_TOKEN_CACHE_TTL_SECS", default_value_t = 300, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub token_cache_ttl_secs: u64,

    /// How often each instance checks the database for changes made elsewhere, in
    /// milliseconds: the bound on convergence when Redis is down or not configured.
    #[arg(long, env = "SWITCHBOARD_SYNC_INTERVAL_MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub sync_interval_ms: u64,

    /// Seconds between heartbeats on `/v1/sdk/stream`, so proxies keep idle streams open.
    #[arg(long, env = "SWITCHBOARD_STREAM_HEARTBEAT_SECS", default_value_t = 15, global = true,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub stream_heartbeat_secs: u64,

    /// Most `/v1/sdk/stream` connections this instance holds open at once (≈ 11.6 KiB each); the
    /// next one is answered `503` with `Retry-After`, and SDKs poll until a slot frees.
    #[arg(long, env = "SWITCHBOARD_MAX_STREAMS", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,

    /// Milliseconds between the scheduler's rounds (due scheduled changes, release plans'
    /// checks and steps): how late a change or a step may come after its time.
    #[arg(long, env = "SWITCHBOARD_SCHEDULER_TICK_MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub scheduler_tick_ms: u64,

    /// Milliseconds the instance running the scheduler holds its lease; another instance takes
    /// the work over this long after the holder dies. Must exceed twice the tick.
    #[arg(long, env = "SWITCHBOARD_SCHEDULER_LEASE_MS", default_value_t = 15_000, global = true,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub scheduler_lease_ms: u64,

    /// Milliseconds between two evaluations of a release plan's guards during a step's hold
    /// (they are also evaluated at every step boundary).
    #[arg(long, env = "SWITCHBOARD_GUARD_INTERVAL_MS", default_value_t = 30_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=86_400_000))]
    pub guard_interval_ms: u64,

    /// Milliseconds a guard's query or check may take before it counts as not evaluable
    /// (which pauses the plan).
    #[arg(long, env = "SWITCHBOARD_GUARD_TIMEOUT_MS", default_value_t = 5_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub guard_timeout_ms: u64,

    /// Base URL of the Prometheus-compatible API release plans' guards query
    /// (`{url}/api/v1/query`). Without it, plans cannot have Prometheus guards.
    #[arg(long, env = "SWITCHBOARD_PROMETHEUS_URL", global = true)]
    pub prometheus_url: Option<String>,

    /// URL prefixes release plans' HTTP checks may use, comma-separated (e.g.
    /// `https://status.internal/checks/`). Empty: HTTP checks are refused, so that a plan's
    /// author cannot make the server probe arbitrary addresses.
    #[arg(
        long,
        env = "SWITCHBOARD_GUARD_HTTP_ALLOWED_PREFIXES",
        global = true,
        value_delimiter = ','
    )]
    pub guard_http_allowed_prefixes: Vec<String>,

    /// Take the client address from `Forwarded` / `X-Forwarded-For` (only behind a trusted proxy).
    #[arg(long, env = "SWITCHBOARD_TRUST_PROXY_HEADERS", default_value = "false", global = true,
          value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub trust_proxy_headers: bool,

    /// OFREP evaluations (`/ofrep/v1/…`) each token may make per second, on average (a token
    /// bucket per token); past it, `429` with `Retry-After`. `0`: no limit.
    #[arg(long, env = "SWITCHBOARD_OFREP_RATE_LIMIT", default_value_t = 0, global = true,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub ofrep_rate_limit: u32,

    /// OFREP evaluations a token may make at once before the rate applies (the bucket's size).
    /// `0`: one second's worth.
    #[arg(long, env = "SWITCHBOARD_OFREP_RATE_BURST", default_value_t = 0, global = true,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub ofrep_rate_burst: u32,

    /// Web origins (`https://app.example.com`, exact, comma-separated) whose pages may call the
    /// evaluation routes (`/ofrep/v1/…`, `/v1/evaluate`) from a browser. Empty: none.
    #[arg(long, env = "SWITCHBOARD_CORS_ORIGINS", global = true, value_delimiter = ',',
          num_args = 0.., value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Seconds a console sign-in (`/ui`) lasts; a session also ends with its token.
    #[arg(long, env = "SWITCHBOARD_CONSOLE_SESSION_SECS", default_value_t = 28_800, global = true,
          value_parser = clap::value_parser!(u64).range(60..=604_800))]
    pub console_session_secs: u64,
    /// PEM file of CA certificates trusted (besides the system's) when fetching OIDC issuers'
    /// discovery documents and keys, e.g. a self-hosted GitLab's private CA.
    #[arg(
        long,
        env = "SWITCHBOARD_OIDC_CA_FILE",
        global = true,
        value_name = "PATH"
    )]
    pub oidc_ca_file: Option<PathBuf>,

    /// Seconds an OIDC issuer's fetched key set is used without asking the issuer again; also
    /// how long cached keys keep verifying while the issuer is down.
    #[arg(long, env = "SWITCHBOARD_OIDC_JWKS_MAX_AGE_SECS", default_value_t = 3600, global = true,
          value_parser = clap::value_parser!(u64).range(60..=604_800))]
    pub oidc_jwks_max_age_secs: u64,

    /// Least seconds between two fetches of one issuer's keys (an unknown key id triggers a
    /// fetch; this bounds how often forged ids can make the server call the issuer).
    #[arg(long, env = "SWITCHBOARD_OIDC_JWKS_REFRESH_SECS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub oidc_jwks_refresh_secs: u64,
    /// Outgoing webhooks (delivery, retries, what they may reach).
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that a keyring given inline can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database_kind())
            .field("redis", &self.redis_url.is_some())
            .field("master_key", &self.master_key.as_ref().map(|_| "***"))
            .field("master_key_file", &self.master_key_file)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Settings for an isolated instance (tests, benchmarks): an ephemeral port and the given
    /// data directory; everything else at its default.
    pub fn for_tests(data_dir: &Path) -> Self {
        Self {
            config: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            db_max_connections: 5,
            db_timeout_secs: 5,
            start_timeout_secs: 300,
            redis_url: None,
            redis_prefix: "switchboard".into(),
            master_key: None,
            master_key_file: None,
            log_format: LogFormat::Text,
            log: "warn".into(),
            max_body_bytes: 1_048_576,
            workers: 2,
            shutdown_timeout_secs: 5,
            token_ttl_secs: 7_776_000,
            token_cache_ttl_secs: 300,
            trust_proxy_headers: false,
            console_session_secs: 28_800,
            sync_interval_ms: 1000,
            stream_heartbeat_secs: 15,
            max_streams: 10_000,
            ofrep_rate_limit: 0,
            ofrep_rate_burst: 0,
            cors_origins: Vec::new(),
            scheduler_tick_ms: 1000,
            scheduler_lease_ms: 15_000,
            guard_interval_ms: 30_000,
            guard_timeout_ms: 5_000,
            prometheus_url: None,
            guard_http_allowed_prefixes: Vec::new(),
            oidc_ca_file: None,
            oidc_jwks_max_age_secs: 3600,
            oidc_jwks_refresh_secs: 10,
            webhooks: WebhookSettings::for_tests(),
        }
    }

    /// The database URL in force: the configured one, or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchboard.db").display()
            ),
        }
    }

    fn database_kind(&self) -> &'static str {
        match &self.database_url {
            Some(url) if url.starts_with("postgres") => "postgres",
            _ => "sqlite",
        }
    }

    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_secs)
    }

    /// What must stay private to the service's account on local disk: the data directory,
    /// the SQLite database with its -wal and -shm files, the master key file and the first
    /// admin token (see [`crate::local_files`]).
    pub fn private_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.data_dir.clone(),
            self.data_dir.join("initial-admin-token"),
        ];
        if let Some(database) = crate::local_files::sqlite_path(&self.effective_database_url()) {
            paths.extend(crate::local_files::sqlite_files(database));
        }
        match self.master_key_source() {
            MasterKeySource::File(path) | MasterKeySource::Generated(path) => paths.push(path),
            MasterKeySource::Inline(_) => {}
        }
        paths
    }

    pub fn master_key_source(&self) -> MasterKeySource {
        if let Some(inline) = &self.master_key {
            MasterKeySource::Inline(inline.clone())
        } else if let Some(path) = &self.master_key_file {
            MasterKeySource::File(path.clone())
        } else {
            MasterKeySource::Generated(self.data_dir.join("master.key"))
        }
    }

    /// Checks that clap's parsers cannot express; each error names the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            bail!("DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bail!("REDIS_URL must start with redis:// or rediss://");
        }
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|e| anyhow::anyhow!("SWITCHBOARD_CORS_ORIGINS: {e}"))?;
        }
        if self.scheduler_lease_ms < 2 * self.scheduler_tick_ms {
            bail!(
                "SWITCHBOARD_SCHEDULER_LEASE_MS must be at least twice SWITCHBOARD_SCHEDULER_TICK_MS"
            );
        }
        if let Some(url) = &self.prometheus_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("SWITCHBOARD_PROMETHEUS_URL must start with http:// or https://");
        }
        self.webhooks.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .with_context(|| format!("SWITCHBOARD_LOG: invalid filter {:?}", self.log))?;
        Ok(())
    }
}

/// The webhook worker's settings (see `crate::webhooks`); flattened into [`Settings`].
#[derive(Clone, Debug, Args)]
pub struct WebhookSettings {
    /// Accept `http://` webhook URLs (development and tests); by default only `https://`.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_ALLOW_HTTP", default_value = "false", global = true,
          value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub webhooks_allow_http: bool,

    /// Refuse to send webhooks to loopback, private, link-local (cloud metadata), shared and
    /// multicast addresses, checked on every connection after DNS resolution (SSRF defence).
    /// Turn off only when receivers live on the private network on purpose.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_DENY_PRIVATE", default_value = "true", global = true,
          value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub webhooks_deny_private: bool,

    /// Seconds one delivery attempt may take (connect, send, answer) before it counts as failed.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_TIMEOUT_SECS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhooks_timeout_secs: u64,

    /// Delay before the first retry of a failed delivery, in milliseconds; each later retry
    /// waits twice as long (with jitter), up to `webhooks_retry_max_ms`.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_RETRY_INITIAL_MS", default_value_t = 5_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=86_400_000))]
    pub webhooks_retry_initial_ms: u64,

    /// Longest wait between two retries, in milliseconds (default one hour).
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_RETRY_MAX_MS", default_value_t = 3_600_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=86_400_000))]
    pub webhooks_retry_max_ms: u64,

    /// Seconds after an event within which its delivery is retried (default 24 hours); a
    /// delivery still failing then is marked `failed` (it can be redelivered by hand).
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_RETRY_WINDOW_SECS", default_value_t = 86_400, global = true,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub webhooks_retry_window_secs: u64,

    /// How often each instance looks for deliveries that are due, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_POLL_MS", default_value_t = 1_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhooks_poll_ms: u64,

    /// Seconds an instance owns a delivery it claimed; an instance that dies mid-send loses it
    /// after this, and another takes it over. Must exceed `webhooks_timeout_secs`.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_LEASE_SECS", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(2..=3_600))]
    pub webhooks_lease_secs: u64,
}

impl WebhookSettings {
    /// Tests' receivers listen on `http://127.0.0.1`, and retries come within a second.
    pub fn for_tests() -> Self {
        Self {
            webhooks_allow_http: true,
            webhooks_deny_private: false,
            webhooks_timeout_secs: 5,
            webhooks_retry_initial_ms: 100,
            webhooks_retry_max_ms: 400,
            webhooks_retry_window_secs: 86_400,
            webhooks_poll_ms: 50,
            webhooks_lease_secs: 10,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.webhooks_lease_secs <= self.webhooks_timeout_secs {
            bail!(
                "SWITCHBOARD_WEBHOOKS_LEASE_SECS must exceed SWITCHBOARD_WEBHOOKS_TIMEOUT_SECS \
                 (a lease that ends mid-attempt lets a second instance send the same delivery)"
            );
        }
        if self.webhooks_retry_max_ms < self.webhooks_retry_initial_ms {
            bail!(
                "SWITCHBOARD_WEBHOOKS_RETRY_MAX_MS must be at least SWITCHBOARD_WEBHOOKS_RETRY_INITIAL_MS"
            );
        }
        Ok(())
    }
}

/// Checks one origin of `SWITCHBOARD_CORS_ORIGINS`: `scheme://host[:port]`, nothing after it.
/// Here rather than in `api::cors` so that settings depend on no part of the API.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| "an origin starts with https:// or http://".to_owned())?;
    let valid_host = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid_host {
        return Err("an origin is scheme://host[:port], without a path or a trailing slash".into());
    }
    Ok(())
}

/// Finds the config file named on the command line or in the environment, before clap runs.
pub(crate) fn config_path_from(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
        if arg == "--" {
            break;
        }
    }
    std::env::var_os("SWITCHBOARD_CONFIG").map(PathBuf::from)
}

/// Turns the config file's values into the defaults of the matching arguments of `cmd`.
pub(crate) fn apply_config_file(
    mut cmd: clap::Command,
    path: &Path,
) -> anyhow::Result<clap::Command> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("SWITCHBOARD_CONFIG: cannot read {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("SWITCHBOARD_CONFIG: {} is not valid TOML", path.display()))?;
    for (key, value) in table {
        let known = cmd
            .get_arguments()
            .any(|arg| arg.get_id().as_str() == key && key != "config");
        if !known {
            bail!("config file {}: unknown setting `{key}`", path.display());
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => bail!(
                "config file {}: setting `{key}` must be a string, number or boolean",
                path.display()
            ),
        };
        cmd = cmd.mut_arg(key, |arg| arg.default_value(text));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_is_found_in_both_flag_spellings() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path_from(&args(&["switchboard", "--config", "a.toml"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_path_from(&args(&["switchboard", "serve", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}
