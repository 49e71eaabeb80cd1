//! The database: one `sqlx` `Any` pool over SQLite (the embedded default) or PostgreSQL.
//!
//! Both backends run the same queries (`$1…$N` placeholders work on both), so there is one code
//! path and one test suite for the two. The price of `Any` is a narrow set of column types, which
//! the schemas in `migrations/{sqlite,postgres}` respect: ids, JSON and names are `TEXT`,
//! timestamps are `BIGINT` microseconds since the Unix epoch, booleans are integers.
//!
//! Every write runs in a transaction that also appends its audit event, so a change without its
//! audit record (or the other way round) cannot exist.

pub mod audit;
mod audit_batch;
pub mod config;
pub mod environment_flags;
pub mod environments;
pub mod flag_states;
pub mod flags;
pub mod idempotency;
pub mod key_rotation;
pub mod kill_switch;
pub mod leases;
mod lookup;
mod migrations;
pub mod oidc;
pub mod projects;
pub mod promotion;
pub mod release_plans;
pub mod scheduled_changes;
pub mod secret_integrity;
pub mod secrets;
pub mod segments;
pub mod signing_keys;
pub mod snapshots;
pub mod tokens;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod write_scope;

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};

use crate::settings::Settings;

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Group commit for the audit records of secret reads (see `audit_batch`).
    reads_audit: std::sync::Arc<audit_batch::AuditBatcher>,
}

/// What callers branch on; everything else keeps its cause for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    /// The resource still holds data and the request did not confirm its removal.
    #[error("{0}")]
    NotEmpty(String),
    /// The change is refused for a reason stated to the caller (e.g. a parent cycle).
    #[error("{0}")]
    Refused(String),
    /// A named thing does not exist (the message names it).
    #[error("{0} not found")]
    Absent(String),
    /// The content is invalid; each problem names its field.
    #[error("{0}")]
    Invalid(switchboard_core::ValidationErrors),
    /// A stored secret failed to decrypt (tampering or a missing master key); already logged
    /// as an alert.
    #[error("secret '{name}' cannot be decrypted: {reason}")]
    Undecryptable { name: String, reason: String },
    /// `If-Match` named a version that is no longer current.
    #[error("the resource changed since version {expected}; it is now at version {current}")]
    Stale { expected: i64, current: i64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The connection failed with a `COMMIT` in flight: the write may or may not be applied.
    #[error("the database did not confirm the write")]
    OutcomeUnknown(#[source] anyhow::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(is_unavailable_state) => {
                Self::Unavailable(error.into())
            }
            // A protocol error is a connection that broke mid-conversation, e.g. a proxy or
            // pooler in front of a database that is down closing it during the handshake.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error.into()),
            _ => Self::Other(anyhow::Error::new(error)),
        }
    }
}

/// PostgreSQL error codes that mean "the server is going away or not there yet", not "your
/// statement is wrong": connection exceptions (class 08) and operator intervention (57P01
/// admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now), e.g. a query in flight
/// while the database restarts. Callers get a 503 and retry.
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How a versioned write is checked and recorded: the version `If-Match` expects (none:
/// unconditional), the audit action, and the comment kept in the resource's history.
#[derive(Debug, Clone, Copy)]
pub struct WriteIntent<'a> {
    pub expected: Option<i64>,
    pub action: &'a str,
    pub comment: &'a str,
}

/// How many times a versioned write is attempted before a contended key gives up: each lost
/// race means another writer committed, so 20 concurrent writers need at most 20 attempts.
const WRITE_ATTEMPTS: u32 = 40;

/// Runs a versioned write (`attempt` is one transaction; `expected` the `If-Match` version),
/// retrying it when a concurrent writer got in first, so that callers see what the design
/// promises:
///
/// - without `If-Match` a write is last-writer-wins: a lost compare-and-set (`Stale`), a unique
///   violation of two first creations or a serialization failure is retried against the newer
///   state, never answered 412 or 409;
/// - with `If-Match`, a unique violation or serialization failure is retried once more so that
///   it reads the winner's version and answers the precondition failure (412), never 409.
///
/// Retrying is bounded in attempts, with a short random pause that spreads the contenders, and
/// in time: no attempt starts after the request's deadline (`db_timeout_secs`, see
/// `write_scope`). An attempt in flight is not cut here: the request's deadline
/// (`api::deadline`) does that, and only before the commit, so that a committed write is never
/// answered as failed.
pub(crate) async fn retrying<T, F, Fut>(
    store: &Store,
    expected: Option<i64>,
    mut attempt: F,
) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let deadline = write_scope::WriteScope::current()
        .map(|scope| scope.deadline())
        .unwrap_or_else(|| {
            tokio::time::Instant::now() + store.pool.options().get_acquire_timeout()
        });
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let retry = match &error {
            StoreError::Stale { .. } => expected.is_none(),
            other => is_contention(other),
        };
        // Out of time with a race still lost: nothing was applied, and a 412 or 409 would
        // blame the caller for a conflict it did not ask to detect.
        if retry && tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "a contended write did not get through within db_timeout_secs"
            )));
        }
        if !retry || tries >= WRITE_ATTEMPTS {
            return Err(match (error, expected) {
                (StoreError::Conflict, Some(expected)) => StoreError::Stale {
                    expected,
                    current: expected + 1,
                },
                (error, _) => error,
            });
        }
        let pause = rand::random_range(1..=5 * u64::from(tries.min(10)));
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// A failure that means "another transaction got there first": a unique violation, or on
/// PostgreSQL a serialization failure (40001) or deadlock (40P01).
fn is_contention(error: &StoreError) -> bool {
    match error {
        StoreError::Conflict => true,
        StoreError::Other(cause) => cause.downcast_ref::<sqlx::Error>().is_some_and(|e| {
            matches!(e, sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01")))
        }),
        _ => false,
    }
}

/// An environment, by the names the API uses.
#[derive(Debug, Clone, Copy)]
pub struct EnvPath<'a> {
    pub project: &'a str,
    pub environment: &'a str,
}

/// Current time in the stores' unit (microseconds since the epoch).
pub fn now_micros() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000).unwrap_or(i64::MAX)
}

/// Kept here for the store's many callers; defined in `domain` so that modules the store
/// depends on can format times too.
pub use crate::domain::format_micros;

impl Store {
    /// Connects with the settings' database URL (creating the SQLite file and its directory
    /// when needed).
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let url = settings.effective_database_url();
        if settings.database_url.is_none() {
            crate::local_files::create_private_dir(&settings.data_dir).with_context(|| {
                format!(
                    "SWITCHBOARD_DATA_DIR: cannot create {}",
                    settings.data_dir.display()
                )
            })?;
        }
        Self::connect_url(&url, settings.db_max_connections, settings.db_timeout()).await
    }

    pub async fn connect_url(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite
            && let Some(path) = crate::local_files::sqlite_path(url)
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::local_files::create_private_dir(dir)
                .with_context(|| format!("DATABASE_URL: cannot create {}", dir.display()))?;
        }
        // Created 0600 before SQLite opens it: SQLite would create it 0644 under the usual
        // umask, and gives its -wal and -shm files the database file's mode.
        if backend == Backend::Sqlite
            && let Some(path) = crate::local_files::sqlite_path(url)
        {
            crate::local_files::create_private_file_if_absent(path)
                .with_context(|| format!("DATABASE_URL: cannot create {}", path.display()))?;
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout);
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits.
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(url)
            .await
            .with_context(|| format!("DATABASE_URL: cannot connect to the {backend:?} database"))?;
        Ok(Self {
            pool,
            backend,
            reads_audit: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records a read-only event (a secret read) and returns once it is committed, batched with
    /// the concurrent ones into one `INSERT` (see `audit_batch`).
    pub async fn record_read(
        &self,
        actor: &audit::Actor,
        change: audit::Change<'_>,
    ) -> StoreResult<()> {
        self.reads_audit.record(&self.pool, actor, change).await
    }

    /// Applies pending migrations (idempotent; safe with several instances starting at once).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrations::migrator(self.backend)?
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Cheap round trip for readiness checks.
    #[tracing::instrument(skip_all)]
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes can fail at once with
    /// `SQLITE_BUSY` instead of waiting its turn.
    pub async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        write_scope::before_begin().await?;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_unavailable_state;

    #[test]
    fn a_restarting_database_is_unavailable_but_a_bad_statement_is_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001"] {
            assert!(is_unavailable_state(code), "{code}");
        }
        for code in ["23505", "42601", "40001", "57014"] {
            assert!(!is_unavailable_state(code), "{code}");
        }
    }
}
