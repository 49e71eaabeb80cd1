//! The files Switchboard keeps on local disk, kept private to the account that runs it.
//!
//! The data directory holds the SQLite database (config values and the audit trail are plaintext
//! there), its `-wal` and `-shm` files, the generated `master.key` and the `initial-admin-token`.
//! A default umask (022) would leave all of them readable by every local user, so the directory
//! is created 0700 and every file 0600 whatever the umask. SQLite gives its `-wal` and `-shm`
//! files the permissions of the database file, so creating the database 0600 before SQLite opens
//! it covers those two as well.
//!
//! Files that already exist are never chmod-ed behind the operator's back (a looser mode may be
//! deliberate, e.g. a backup group): start-up warns about each one instead, naming the path and
//! its mode.

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) with mode 0700. An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` empty with mode 0600 when it does not exist yet; an existing file is left
/// untouched (never truncated). An empty file is a valid empty SQLite database.
pub fn create_private_file_if_absent(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// The SQLite database file a `sqlite:` URL names (none for `:memory:`).
pub fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// The SQLite database and the two files SQLite keeps beside it in WAL mode.
pub fn sqlite_files(database: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        database.to_path_buf(),
        with_suffix("-wal"),
        with_suffix("-shm"),
    ]
}

/// Logs a warning for each existing path that group or other users can access (any of the
/// 0o077 bits). Missing paths are skipped: they will be created private.
pub fn warn_if_loose(paths: &[PathBuf]) {
    #[cfg(unix)]
    for path in paths {
        use std::os::unix::fs::PermissionsExt;
        let Ok(metadata) = std::fs::metadata(path) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let wanted = if metadata.is_dir() { "0700" } else { "0600" };
            tracing::warn!(
                path = %path.display(),
                mode = %format!("{mode:04o}"),
                wanted,
                "a private Switchboard file or directory is accessible to other local users; \
                 restrict it (chmod {wanted})"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = paths;
}
