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

fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Why a test that needs `name` is running without it: the test then fails with this.
fn missing(name: &str) -> ! {
    panic!(
        "{name} is not set: SWITCHBOARD_TEST_REQUIRE names its backend, or it was set when the \
         tests were built (cargo rebuilds them when it changes)"
    )
}

/// The PostgreSQL backend, for tests marked with [`postgres_test!`](crate::postgres_test).
pub fn postgres() -> Backend {
    postgres_if_set().unwrap_or_else(|| missing(POSTGRES_VAR))
}

/// The PostgreSQL backend when configured, for tests that run on whichever they get.
pub fn postgres_if_set() -> Option<Backend> {
    variable(POSTGRES_VAR).map(Backend::Postgres)
}

/// The Redis URL, for tests marked with [`redis_test!`](crate::redis_test).
pub fn redis_url() -> String {
    variable(REDIS_VAR).unwrap_or_else(|| missing(REDIS_VAR))
}

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
                        super::$name($crate::postgres()).await
                    }
                }
            )*
        }
    };
}
