//! Embeds the SQL migrations (`migrations/{sqlite,postgres}/*.sql` at the workspace root) in
//! the binary, as a list of `(file name, contents)` that `store::migrations` turns into sqlx
//! migrations at start.
//!
//! This is what `sqlx::migrate!` does, without its proc-macro: the macro crate compiles sqlx's
//! PostgreSQL and SQLite drivers, and the SQLite C library, a second time for the host, a
//! large share of a cold build for one line of code (`BENCHMARKS.md`, build times).

// A build script reports a broken checkout by failing the build, with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut code = String::new();
    for backend in ["sqlite", "postgres"] {
        let dir = manifest.join("../migrations").join(backend);
        // A directory: cargo reruns this script when any file in it changes or is added.
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        writeln!(
            code,
            "pub const {}: &[(&str, &str)] = &[",
            backend.to_uppercase()
        )
        .unwrap();
        for path in files {
            let name = path.file_name().expect("a file name").to_string_lossy();
            let path = path.canonicalize().expect("an existing file");
            writeln!(
                code,
                "    ({name:?}, include_str!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out.join("migrations.rs"), code).expect("writing migrations.rs");
}
