//! Snapshot files: the bootstrap file read at start, and the last good snapshot persisted for
//! the next start.
//!
//! Both use the snapshot's own JSON format (what `GET /v1/sdk/snapshot` answers), so a bootstrap
//! file is simply a saved response: `curl -H "Authorization: Bearer $SDK_TOKEN"
//! $API/v1/sdk/snapshot > flags.json`.
//!
//! The persisted file is written atomically: to a temporary file in the same directory, flushed
//! to disk, then renamed over the old one. A crash at any point leaves either the old file or the
//! new one, never a truncated mix that would fail to load on the next start. It is created with
//! mode `0600` on Unix: a snapshot reveals targeting rules (customer ids, plans, e-mail domains)
//! that other users of the machine have no business reading.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use switchboard_core::Snapshot;

use crate::error::SnapshotFileError;

pub(crate) fn read(path: &Path) -> Result<Snapshot, SnapshotFileError> {
    let bytes = fs::read(path)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Replaces the file at `path` with `snapshot`, atomically (see the module documentation).
pub(crate) fn write_atomically(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let body = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
    let temporary = temporary_path(path);
    let result = write_new(&temporary, &body).and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn write_new(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file: File = options.open(path)?;
    // `mode` applies only when the file is created; a leftover temporary file keeps its old mode.
    #[cfg(unix)]
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(body)?;
    file.sync_all()
}

/// `dir/.name.<pid>.tmp`: same directory (a rename across file systems is not atomic), hidden,
/// and per process so that two processes sharing a path do not write into each other's file.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".to_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_persisted_snapshot_reads_back_and_replaces_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last-good.json");
        write_atomically(&path, &Snapshot::new("shop", "production", 1)).unwrap();
        write_atomically(&path, &Snapshot::new("shop", "production", 2)).unwrap();

        assert_eq!(read(&path).unwrap(), Snapshot::new("shop", "production", 2));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["last-good.json"], "no temporary file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_persisted_snapshot_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last-good.json");
        write_atomically(&path, &Snapshot::new("shop", "production", 1)).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        fs::write(&path, br#"{"format_version": 99}"#).unwrap();
        assert!(matches!(read(&path), Err(SnapshotFileError::Parse(_))));
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(SnapshotFileError::Io(_))
        ));
    }
}
