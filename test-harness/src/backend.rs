//! Which database and Redis a test runs against, read from the environment.
//!
//! SQLite always runs. PostgreSQL and Redis run when `SWITCHBOARD_TEST_DATABASE_URL` /
//! `SWITCHBOARD_TEST_REDIS_URL` are set; otherwise their tests are marked ignored at build time
//! (see build.rs and the macros below), so the `cargo test` summary counts them as ignored
//! rather than as passed. `SWITCHBOARD_TEST_REQUIRE=postgres,redis` keeps them running even
//! without the variables, so that each one fails and says why.

/// The database a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server; each test gets a schema of its own in it.
    Postgres(String),
}

const POSTGRES_VAR: &str = "SWITCHBOARD_TEST_DATABASE_URL";
const REDIS_VAR: &str = "SWITCHBOARD_TEST_REDIS_URL";

/// Whether `SWITCHBOARD_TEST_REQUIRE` names `what` (`postgres`, `redis`, `readers`, `browser`, …):
/// a test whose outside tool is missing then fails instead of skipping with a note.
pub fn required(what: &str) -> bool {
    std::env::var("SWITCHBOARD_TEST_REQUIRE")
        .map(|v| v.split(',').any(|w| w.trim() == what))
        .unwrap_or(false)
}

/// The value of `name`, `None` when unset; a panic when unset but `SWITCHBOARD_TEST_REQUIRE`
/// names `what`, so that its tests fail and say why.
fn configured(name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if required(what) => {
            panic!("{name} is not set but SWITCHBOARD_TEST_REQUIRE names {what}")
        }
        _ => None,
    }
}

/// The PostgreSQL backend when configured.
pub fn postgres() -> Option<Backend> {
    configured(POSTGRES_VAR, "postgres").map(Backend::Postgres)
}

/// The Redis URL when configured.
pub fn redis_url() -> Option<String> {
    configured(REDIS_VAR, "redis")
}

/// Why a test marked with one of the macros below runs without its backend: the variable was
/// set when the tests were built (cargo rebuilds them when it changes), not when they run.
pub const NOT_CONFIGURED: &str = "the backend's variable was set when the tests were built";

/// Wraps a test that needs PostgreSQL: ignored, with the reason, when it is not configured.
#[cfg(run_postgres_tests)]
#[macro_export]
macro_rules! postgres_test {
    ($($test:tt)*) => { $($test)* };
}

/// Wraps a test that needs PostgreSQL: ignored, with the reason, when it is not configured.
#[cfg(not(run_postgres_tests))]
#[macro_export]
macro_rules! postgres_test {
    ($($test:tt)*) => {
        #[ignore = "needs SWITCHBOARD_TEST_DATABASE_URL"]
        $($test)*
    };
}

/// Wraps a test that needs Redis: ignored, with the reason, when it is not configured.
#[cfg(run_redis_tests)]
#[macro_export]
macro_rules! redis_test {
    ($($test:tt)*) => { $($test)* };
}

/// Wraps a test that needs Redis: ignored, with the reason, when it is not configured.
#[cfg(not(run_redis_tests))]
#[macro_export]
macro_rules! redis_test {
    ($($test:tt)*) => {
        #[ignore = "needs SWITCHBOARD_TEST_REDIS_URL"]
        $($test)*
    };
}

/// Runs each named `async fn(Backend)` of the calling module once on SQLite (`sqlite::name`)
/// and once on PostgreSQL (`postgres::name`).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                $crate::postgres_test! {
                    #[tokio::test]
                    async fn $name() {
                        super::$name($crate::postgres().expect($crate::NOT_CONFIGURED)).await
                    }
                }
            )*
        }
    };
}
