//! A fresh, empty database per test, and its removal afterwards.
//!
//! On PostgreSQL each test gets a schema of its own in the one `test` database. The schema is
//! dropped when the [`TestDatabase`] is, from a connection of its own: the app's pool may still
//! be open then (the server runs until the test's runtime ends), so the app's connections,
//! recognised by an `application_name` unique to the schema, are terminated first. Otherwise an
//! open transaction of a server task (which cannot run while the test's thread waits here)
//! would hold the drop forever. Cleaning up never fails a test: whatever goes wrong, the schema
//! is only left behind.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection;

use crate::Backend;

/// How long cleaning up may take before the schema is left behind.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// A database of one test's own; on PostgreSQL, dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    /// What to give the server (`Settings::database_url`) or `Store::connect_url`.
    pub url: String,
    /// The PostgreSQL server and the schema to drop.
    schema: Option<(String, String)>,
}

impl TestDatabase {
    /// Its own SQLite file in `dir`, or its own PostgreSQL schema.
    pub async fn create(backend: &Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
                schema: None,
            },
            Backend::Postgres(base) => {
                let schema = format!("swbt_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(base)
                    .await
                    .expect("connect to the test PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await
                    .expect("create a test schema");
                let _ = admin.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                Self {
                    url: format!(
                        "{base}{separator}application_name={schema}\
                         &options=-c%20search_path%3D{schema}"
                    ),
                    schema: Some((base.clone(), schema)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // A thread and a runtime of its own: `drop` may run inside the test's runtime, which
        // must not be blocked on by a future it would itself have to drive.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = tokio::time::timeout(DROP_TIMEOUT, drop_schema(&base, &schema)).await;
            });
        });
        let _ = cleanup.join();
    }
}

async fn drop_schema(base: &str, schema: &str) -> Result<(), sqlx::Error> {
    let mut connection = sqlx::PgConnection::connect(base).await?;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(schema)
    .execute(&mut connection)
    .await?;
    // A connection the app opened since then only delays the drop, up to this bound.
    sqlx::query("SET lock_timeout = '5s'")
        .execute(&mut connection)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut connection)
    .await?;
    connection.close().await
}
