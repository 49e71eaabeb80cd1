//! The dotenv and shell exports, read back by the programs pipelines load them with: every
//! hostile value must come back byte for byte or be refused by key, and sourcing must never run
//! anything. The readers are pinned in `tests/readers/` (installed by its `install.sh`); one
//! that is missing is skipped with a note, or fails the test when `SWITCHBOARD_TEST_REQUIRE`
//! contains `readers`, as CI sets it. godotenv (Go) is read with a small program built from
//! Debian's package of it (`tests/readers/read_go`). docker compose's `env_file` is not among
//! them: the compose plugin is not available where these tests run, so what the export refuses
//! for it comes from reading its parser (see `dotenv_quote` in `server/src/export.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};

crate::on_both_backends!(
    every_reader_reads_the_dotenv_export_back_byte_for_byte,
    values_a_dotenv_reader_would_change_are_refused_by_key_and_shells_still_carry_them,
);

const SECRETS: &str = "/v1/projects/shop/environments/production/secrets";

/// Values that every format carries. `MARKER` is replaced by a path that must not exist
/// after the exports have been sourced.
fn carried() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PLAIN", "hello world"),
        ("DOUBLE_QUOTES", r#"say "hi" and \"escaped\""#),
        ("APOSTROPHE", "it's"),
        ("APOSTROPHE_LINES", "it's\nmulti line"),
        ("README_PASSWORD", "pa$$ word"),
        ("DOLLAR_NAMES", "$HOME and $PATH and $"),
        ("BACKTICKS", "`touch MARKER`"),
        ("SUBSHELL", "$(touch MARKER)"),
        ("BACKSLASHES", r#"C:\path\n \t \" \$ \x"#),
        (
            "NEWLINES",
            "line one\n\nline two\n# not a comment\nNOT_A_KEY=1\n",
        ),
        ("HASH", "a # not a comment"),
        ("LEADING_HASH", "#start"),
        ("EQUALS", "=a=b=c="),
        ("UNICODE", "naïve ☃ 日本 🚀 \u{2028} \u{85} end"),
        ("SPACES", "  padded  "),
        ("TRAILING_TAB", "tab\t"),
        ("ONLY_SPACES", "   "),
        ("EMPTY", ""),
        ("JSON", r#"{"a":[1,2],"b":"c"}"#),
        ("EXPORT_LOOKALIKE", "export X=1; touch MARKER"),
    ]
}

/// Values that at least one dotenv reader reads back differently; the shell format carries
/// them all.
fn not_dotenv() -> Vec<(&'static str, &'static str)> {
    vec![
        ("BRACES", "${HOME}"),
        ("BRACES_DEFAULT", "${UNSET:-fallback}"),
        ("CRLF", "one\r\ntwo"),
        ("LONE_CR", "\r"),
        ("PEM", "-----BEGIN KEY-----\nMII\n-----END KEY-----\n"),
        ("UNC_PATH", r"\\server\share"),
        ("TRAILING_BACKSLASH", "dir\\"),
        ("BOTH_QUOTES", r#"it's "quoted""#),
        ("APOSTROPHE_DOLLAR", "it's $5"),
        ("APOSTROPHE_BACKTICK", "it's `touch MARKER`"),
        ("APOSTROPHE_BACKSLASH", r"it's C:\x"),
    ]
}

/// The readers' pinned install, next to the workspace root.
fn readers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/readers")
}

/// Reads a file into the variables it defines.
type ReadFn = Box<dyn Fn(&Path) -> HashMap<String, String>>;

/// The shells, which source a file rather than parse it.
const SHELLS: [&str; 3] = ["sh", "bash", "dash"];

/// Every reader by name, with how it reads a file (`None`: not installed here).
fn readers() -> Vec<(&'static str, Option<ReadFn>)> {
    let dir = readers_dir();
    let python = dir.join(".venv/bin/python");
    let python_script = dir.join("read_python.py");
    let python_dotenv = python.exists().then(|| -> ReadFn {
        Box::new(move |file| json_of(Command::new(&python).arg(&python_script).arg(file)))
    });
    let node_ready = dir.join("node_modules/dotenv").exists() && installed("node");
    let node = |parser: &'static str| {
        let script = dir.join("read_node.cjs");
        node_ready.then(|| -> ReadFn {
            Box::new(move |file| {
                let mut both: HashMap<String, HashMap<String, String>> =
                    serde_json::from_slice(&stdout_of(Command::new("node").arg(&script).arg(file)))
                        .unwrap();
                both.remove(parser).unwrap()
            })
        })
    };
    let go_reader = dir.join("read_go/read_go");
    let godotenv = go_reader
        .exists()
        .then(|| -> ReadFn { Box::new(move |file| json_of(Command::new(&go_reader).arg(file))) });
    let dotenvy: ReadFn = Box::new(|file| {
        dotenvy::from_path_iter(file)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    });
    let mut readers = vec![
        ("dotenvy", Some(dotenvy)),
        ("python-dotenv", python_dotenv),
        ("dotenv (npm)", node("default")),
        ("dotenv (npm, fast parser)", node("fast")),
        ("godotenv", godotenv),
    ];
    for shell in SHELLS {
        readers.push((
            shell,
            installed(shell).then(|| -> ReadFn { Box::new(move |file| sourced(shell, file)) }),
        ));
    }
    readers
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_ok()
}

fn stdout_of(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {output:?}");
    output.stdout
}

fn json_of(command: &mut Command) -> HashMap<String, String> {
    serde_json::from_slice(&stdout_of(command)).unwrap()
}

/// What `set -a; . file; set +a` leaves in the environment, read as bytes (`env -0`), from a
/// shell started with nothing but `PATH`.
fn sourced(shell: &str, file: &Path) -> HashMap<String, String> {
    let stdout = stdout_of(
        Command::new(shell)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("-c")
            .arg("set -a; . \"$1\"; set +a; exec env -0")
            .arg(shell)
            .arg(file),
    );
    String::from_utf8(stdout)
        .unwrap()
        .split_terminator('\0')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The view of `file` of every installed reader that is `wanted`, after saying which readers are missing (or
/// failing, when `SWITCHBOARD_TEST_REQUIRE` asks for `readers`).
fn read_with(
    file: &Path,
    wanted: impl Fn(&str) -> bool,
) -> Vec<(&'static str, HashMap<String, String>)> {
    let required = std::env::var("SWITCHBOARD_TEST_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .any(|part| part.trim() == "readers");
    let mut views = Vec::new();
    for (name, reader) in readers() {
        if !wanted(name) {
            continue;
        }
        match reader {
            Some(read) => views.push((name, read(file))),
            None if required => panic!(
                "the {name} reader is missing and SWITCHBOARD_TEST_REQUIRE has 'readers': run tests/readers/install.sh"
            ),
            None => eprintln!(
                "export_readers: skipped {name} (not installed; see tests/readers/install.sh)"
            ),
        }
    }
    views
}

/// `KEY → value` with `MARKER` replaced by `marker`.
fn table(entries: &[(&'static str, &'static str)], marker: &Path) -> Vec<(String, String)> {
    let marker = marker.display().to_string();
    entries
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.replace("MARKER", &marker)))
        .collect()
}

async fn shop_with(backend: Backend, values: &[(String, String)]) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    for (key, value) in values {
        let response = app
            .request(Method::PUT, &format!("{SECRETS}/{key}"))
            .json(&json!({ "value": value, "allow_empty": true }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{key}: {response:?}");
    }
    app
}

async fn export_to(app: &TestApp, format: &str, file: &Path) {
    let response = app.get(&format!("{SECRETS}/export?format={format}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::write(file, response.bytes().await.unwrap()).unwrap();
}

/// Asserts that every `wanted` reader of `file` gives back `expected` exactly and that
/// sourcing ran nothing.
fn assert_read_back(
    file: &Path,
    wanted: impl Fn(&str) -> bool,
    expected: &[(String, String)],
    marker: &Path,
) {
    for (reader, view) in read_with(file, wanted) {
        for (key, value) in expected {
            assert_eq!(
                view.get(key).map(|v| v.as_bytes()),
                Some(value.as_bytes()),
                "{reader} read {key} differently from {}",
                file.display()
            );
        }
    }
    assert!(
        !marker.exists(),
        "sourcing {} ran a command",
        file.display()
    );
}

async fn every_reader_reads_the_dotenv_export_back_byte_for_byte(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("executed");
    let values = table(&carried(), &marker);
    let app = shop_with(backend, &values).await;

    // The dotenv file is for loaders, and safe to source; the shell file only for shells.
    let dotenv = dir.path().join("export.env");
    export_to(&app, "dotenv", &dotenv).await;
    assert_read_back(&dotenv, |_| true, &values, &marker);
    let shell = dir.path().join("export.sh");
    export_to(&app, "shell", &shell).await;
    assert_read_back(&shell, |name| SHELLS.contains(&name), &values, &marker);
}

async fn values_a_dotenv_reader_would_change_are_refused_by_key_and_shells_still_carry_them(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("executed");
    let refused = table(&not_dotenv(), &marker);
    let values: Vec<(String, String)> = table(&carried(), &marker)
        .into_iter()
        .chain(refused.iter().cloned())
        .collect();
    let app = shop_with(backend, &values).await;

    let problem = assert_problem(
        app.get(&format!("{SECRETS}/export?format=dotenv")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    let named = detail
        .split_once("keys ")
        .and_then(|(_, rest)| rest.split_once(" hold"))
        .map(|(keys, _)| keys.split(", ").collect::<Vec<_>>())
        .unwrap_or_default();
    let mut expected: Vec<&str> = refused.iter().map(|(key, _)| key.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(named, expected, "{detail}");
    for (key, value) in &refused {
        assert!(!detail.contains(value.as_str()), "{key}'s value is echoed");
    }

    let shell = dir.path().join("export.sh");
    export_to(&app, "shell", &shell).await;
    assert_read_back(&shell, |name| SHELLS.contains(&name), &values, &marker);
}
