//! Files on the server's own disk: the SQLite database (config values and the audit trail in
//! plaintext), its -wal and -shm files, the generated master key and the first admin token must
//! be readable by the service's account only, whatever umask it was started under; files an
//! operator left looser are reported at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::{BIN, switchboard, wait_until_answering, with_clean_env};
use crate::helpers::free_port;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

const PRIVATE_FILES: [&str; 5] = [
    "switchboard.db",
    "switchboard.db-wal",
    "switchboard.db-shm",
    "master.key",
    "initial-admin-token",
];

#[tokio::test]
async fn under_a_permissive_umask_the_data_directory_and_its_files_are_private_to_the_owner() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let port = free_port();
    // The shell opens everything up (umask 000), then becomes the server.
    let start = format!("umask 000 && exec \"$0\" serve --listen 127.0.0.1:{port}");
    let log = parent.path().join("stderr.log");
    let mut command = with_clean_env(Command::new("bash"), &dir);
    command
        .args(["-c", &start, BIN])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = command.spawn().unwrap();
    wait_until_answering(&format!("http://127.0.0.1:{port}"), || {
        std::fs::read_to_string(&log).unwrap_or_default()
    })
    .await;

    // While it serves, so SQLite's -wal and -shm files exist.
    let modes: Vec<(String, u32)> = std::iter::once(("data directory".to_owned(), mode(&dir)))
        .chain(
            PRIVATE_FILES
                .iter()
                .map(|name| (name.to_string(), mode(&dir.join(name)))),
        )
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();

    let expected: Vec<(String, u32)> = std::iter::once(("data directory".to_owned(), 0o700))
        .chain(PRIVATE_FILES.iter().map(|name| (name.to_string(), 0o600)))
        .collect();
    assert_eq!(modes, expected, "modes (octal: 448 = 0700, 384 = 0600)");
}

#[test]
fn a_start_warns_about_each_existing_private_file_that_others_can_read() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let first = switchboard(&dir).arg("migrate").output().unwrap();
    assert!(first.status.success(), "{first:?}");
    let first_log = String::from_utf8_lossy(&first.stderr);
    assert!(
        !first_log.contains("other local users"),
        "files it created itself are private: {first_log}"
    );
    // An operator loosened them (or an older version created them so).
    for (path, mode) in [
        (dir.clone(), 0o755),
        (dir.join("switchboard.db"), 0o644),
        (dir.join("master.key"), 0o640),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    let again = switchboard(&dir).arg("migrate").output().unwrap();

    assert!(again.status.success(), "{again:?}");
    let log = String::from_utf8_lossy(&again.stderr);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("other local users"))
        .collect();
    for (name, mode) in [("switchboard.db", "0644"), ("master.key", "0640")] {
        assert!(
            warnings
                .iter()
                .any(|line| line.contains(name) && line.contains(mode)),
            "{name} at {mode} is reported: {log}"
        );
    }
    assert!(
        warnings.iter().any(|line| line.contains("0755")),
        "the directory at 0755 is reported: {log}"
    );
    let key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    let key_material = key.lines().last().unwrap().split(':').nth(1).unwrap();
    assert!(!log.contains(key_material), "never the key itself");
    // Left as the operator set them: a warning, not a silent chmod.
    assert_eq!(mode(&dir.join("switchboard.db")), 0o644);
}
