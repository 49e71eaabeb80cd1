//! The SQL migrations of each backend, embedded at build time (`server/build.rs`) and turned
//! into an sqlx [`Migrator`] here: the same versions, descriptions and checksums that
//! `sqlx::migrate!` gives, so databases migrated by earlier builds stay valid.

use anyhow::Context;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Backend;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// The migrations of `backend`, in version order.
pub fn migrator(backend: Backend) -> anyhow::Result<Migrator> {
    let files = match backend {
        Backend::Sqlite => embedded::SQLITE,
        Backend::Postgres => embedded::POSTGRES,
    };
    let mut migrations = Vec::with_capacity(files.len());
    for (file_name, sql) in files {
        // `<VERSION>_<DESCRIPTION>.sql`, read as sqlx reads a migrations directory.
        let (version, rest) = file_name
            .split_once('_')
            .with_context(|| format!("migration {file_name}: no `<version>_` prefix"))?;
        let version: i64 = version
            .parse()
            .with_context(|| format!("migration {file_name}: the version is not a number"))?;
        let kind = MigrationType::from_filename(rest);
        let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
        migrations.push(Migration::new(
            version,
            description.into(),
            kind,
            sql.into_sql_str(),
            sql.starts_with("-- no-transaction"),
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_for_both_backends() {
        for (backend, dir) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
            let on_disk = std::fs::read_dir(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../migrations")
                    .join(dir),
            )
            .unwrap()
            .count();
            let migrator = migrator(backend).unwrap();
            assert_eq!(migrator.iter().count(), on_disk, "{dir}");
            assert!(
                migrator
                    .iter()
                    .all(|m| m.version > 0 && !m.description.is_empty())
            );
        }
    }
}
