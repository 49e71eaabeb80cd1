//! Files that hold secrets: `run --mount` and `export --file`.
//!
//! They are created with mode 0600 in the same `open` call (never created readable and then
//! narrowed), and never replace an existing file: `create_new` fails on one, so a symlink an
//! attacker planted at the path is not followed and someone else's file is not clobbered.
//! A mounted file is removed when the guard drops, which `run` does once its child has exited,
//! whatever ended it (its own exit or a forwarded signal).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Error, Result};

/// Creates `path` with `contents`, readable and writable by the owner only.
pub fn create_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::usage(format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            )));
        }
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("creating {}", path.display()))
                .into());
        }
    };
    if let Err(e) = file.write_all(contents) {
        let _ = std::fs::remove_file(path);
        return Err(anyhow::Error::from(e)
            .context(format!("writing {}", path.display()))
            .into());
    }
    Ok(())
}

/// Replaces `path` (when `force`) or creates it, private either way: an existing file is
/// removed first rather than truncated, so its old mode and owner do not carry over.
pub fn write_private(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    if force {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::from(e)
                    .context(format!("replacing {}", path.display()))
                    .into());
            }
            _ => {}
        }
    }
    create_private(path, contents).map_err(|e| match e {
        Error::Usage(message) => Error::Usage(format!("{message} (--force replaces it)")),
        other => other,
    })
}

/// A private file that exists as long as this guard does.
#[derive(Debug)]
pub struct MountedFile {
    path: PathBuf,
}

impl MountedFile {
    pub fn create(path: &Path, contents: &[u8]) -> Result<Self> {
        create_private(path, contents)?;
        // Absolute, so a child that changes directory (or the guard) still finds it.
        let path =
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for MountedFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => eprintln!(
                "switchboard: warning: could not remove {}: {e}; it holds secrets, delete it",
                self.path.display()
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_never_replace_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        create_private(&path, b"A=1\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            create_private(&path, b"B=2\n"),
            Err(Error::Usage(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"A=1\n");
        write_private(&path, b"B=2\n", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"B=2\n");
    }

    #[test]
    fn a_mounted_file_is_gone_when_its_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mounted.json");
        let mounted = MountedFile::create(&path, b"{}").unwrap();
        assert!(mounted.path().is_absolute() && path.exists());
        drop(mounted);
        assert!(!path.exists());
    }
}
