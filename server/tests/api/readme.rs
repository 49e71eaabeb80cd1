//! The READMEs run verbatim: every fenced `sh` block of `README.md`, then of
//! `client-sdk/README.md`, in order, in one `bash` session (variables carry over), against a
//! fresh server, as a reader would paste them. A README change that breaks a step fails here,
//! naming the README line.
//!
//! What differs from a reader's terminal, and nothing else (the whole mapping):
//! - The script runs in a scratch directory that looks like a checkout to the commands the
//!   READMEs type: `target/release/switchboard` and `target/debug/switchboard` are this build's
//!   binary, `examples/` is the repository's. Directories holding another `switchboard` are left
//!   out of `PATH`, so the README's own line that puts it on `PATH` is what makes it work.
//! - The server is already running (this runner started `switchboard serve` in that directory);
//!   it listens on a free port instead of 8080, so the literal `http://127.0.0.1:8080` becomes
//!   its address. On PostgreSQL, `DATABASE_URL` (a fresh schema) is exported to the script.
//! - `cargo` is a shell function: `cargo run --release -- serve` does nothing more, `cargo test …`
//!   does nothing (this is it), `cargo run … -- ARGS` runs `switchboard ARGS`, and
//!   `cargo run -p switchboard-client --example quickstart` runs the example this workspace built
//!   (`cargo test --workspace` builds it; when it is missing the step is skipped and said so).
//! - A block preceded by `<!-- readme-test: skip -->` does not run; the runner lists them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestDatabase, free_port};
use crate::on_both_backends;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const READMES: [&str; 2] = ["README.md", "client-sdk/README.md"];
const SKIP_MARKER: &str = "<!-- readme-test: skip";
/// The address the READMEs use; rewritten to the runner's server.
const README_ADDRESS: &str = "http://127.0.0.1:8080";
/// Long enough for a slow, shared CI machine; short enough that a hung step fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Defined before the first block; see the module doc for why each mapping exists.
const PRELUDE: &str = r#"exec 2>&1
set -o pipefail
trap 'echo "readme-test: exit $? at script line $LINENO"' ERR
cargo() {
  case "$*" in
    "run --release -- serve") echo "readme-test: the server is already running at $README_TEST_API" ;;
    "test "*) echo "readme-test: not running 'cargo $*' (this is it)" ;;
    "run -p switchboard-client --example quickstart")
      if [ -x "$README_TEST_QUICKSTART" ]; then "$README_TEST_QUICKSTART"
      else echo "readme-test: SKIPPED: $README_TEST_QUICKSTART not built (cargo test --workspace builds it)"; fi ;;
    "run "*" -- "*) shift; while [ "$1" != "--" ]; do shift; done; shift; "$README_TEST_BIN" "$@" ;;
    *) echo "readme-test: no mapping for 'cargo $*'"; return 127 ;;
  esac
}
"#;

/// One fenced `sh` block: where it starts (the fence's line, 1-based) and its lines.
struct Block {
    file: &'static str,
    line: usize,
    text: Vec<String>,
    skipped: bool,
}

/// The `sh` blocks of one markdown file, in order. A fence may be indented (inside a list item);
/// the block's lines lose that indentation.
fn sh_blocks(file: &'static str, markdown: &str) -> Vec<Block> {
    enum State {
        Text,
        /// Inside an `sh` block whose fence was indented this much.
        Sh(Block, usize),
        /// Inside another language's block: its lines are not fences.
        Other,
    }
    let mut blocks = Vec::new();
    let mut state = State::Text;
    let mut previous = "";
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let fence = trimmed.trim_end();
        state = match state {
            State::Sh(block, _) if fence == "```" => {
                blocks.push(block);
                State::Text
            }
            State::Sh(mut block, indent) => {
                block
                    .text
                    .push(line.get(indent..).unwrap_or(trimmed).to_owned());
                State::Sh(block, indent)
            }
            State::Other if fence == "```" => State::Text,
            State::Other => State::Other,
            State::Text if fence == "```sh" => State::Sh(
                Block {
                    file,
                    line: index + 1,
                    text: Vec::new(),
                    skipped: previous.trim_start().starts_with(SKIP_MARKER),
                },
                line.len() - trimmed.len(),
            ),
            State::Text if fence.starts_with("```") => State::Other,
            State::Text => State::Text,
        };
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(
        matches!(state, State::Text),
        "{file}: a fenced block is never closed"
    );
    blocks
}

/// The script, and for each of its lines the README line it came from.
fn script(blocks: &[Block], api: &str) -> (String, Vec<Option<(&'static str, usize)>>) {
    let mut script = String::new();
    let mut origin = Vec::new();
    for line in PRELUDE.lines() {
        script.push_str(line);
        script.push('\n');
        origin.push(None);
    }
    for block in blocks.iter().filter(|b| !b.skipped) {
        // On a line of its own: curl's answers end without a newline.
        script.push_str(&format!(
            "printf '\\n--- readme-test: {}:{}\\n'\n",
            block.file, block.line
        ));
        origin.push(Some((block.file, block.line)));
        for (offset, line) in block.text.iter().enumerate() {
            script.push_str(&line.replace(README_ADDRESS, api));
            script.push('\n');
            origin.push(Some((block.file, block.line + 1 + offset)));
        }
    }
    (script, origin)
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `PATH` without directories that hold another `switchboard`.
fn path_without_switchboard() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("switchboard").exists())
        .collect();
    std::env::join_paths(kept).unwrap().into_string().unwrap()
}

/// A scratch directory that looks like a checkout to the READMEs' commands.
fn checkout_lookalike(dir: &Path, repo: &Path) {
    for profile in ["release", "debug"] {
        let bin_dir = dir.join("target").join(profile);
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(BIN, bin_dir.join("switchboard")).unwrap();
    }
    std::os::unix::fs::symlink(repo.join("examples"), dir.join("examples")).unwrap();
}

/// The README's environment: a fresh shell's, plus the runner's few variables.
fn clean_command(program: &str, dir: &Path, database_url: &Option<String>) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", path_without_switchboard())
        .env("HOME", dir)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command
}

async fn start_server(dir: &Path, database_url: &Option<String>) -> (Server, String) {
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let log = File::create(dir.join("server.log")).unwrap();
    let child = clean_command(BIN, dir, database_url)
        .arg("serve")
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client.get(format!("{api}/healthz")).send().await
            && response.status().is_success()
        {
            return (server, api);
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "the server exited during start-up ({status}): {}",
                tail(dir, "server.log")
            );
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Where a failed script stopped, in README terms: the ERR trap's script line, else the last
/// block that started.
fn failure_place(output: &str, origin: &[Option<(&'static str, usize)>]) -> String {
    let trapped = output
        .lines()
        .filter_map(|l| l.strip_prefix("readme-test: exit "))
        .filter_map(|rest| rest.split(" at script line ").nth(1))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .filter_map(|n| origin.get(n.checked_sub(1)?).copied().flatten())
        .next();
    match trapped {
        Some((file, line)) => format!("{file}:{line}"),
        None => output
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("--- readme-test: "))
            .map(|block| format!("the block at {block}"))
            .unwrap_or_else(|| "the runner's prelude".to_owned()),
    }
}

async fn the_readmes_run_verbatim(backend: Backend) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut blocks = Vec::new();
    for file in READMES {
        let markdown = std::fs::read_to_string(repo.join(file)).unwrap();
        blocks.extend(sh_blocks(file, &markdown));
    }
    for block in blocks.iter().filter(|b| b.skipped) {
        eprintln!(
            "readme-test: skipped (marked) the sh block at {}:{}",
            block.file, block.line
        );
    }

    let dir = tempfile::tempdir().unwrap();
    checkout_lookalike(dir.path(), repo);
    // Declared before the server so that it outlives it: its PostgreSQL schema is dropped last.
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(_) => Some(TestDatabase::create(&backend, dir.path()).await),
    };
    let database_url = database.as_ref().map(|database| database.url.clone());
    let (_server, api) = start_server(dir.path(), &database_url).await;

    let (text, origin) = script(&blocks, &api);
    std::fs::write(dir.path().join("readme.sh"), &text).unwrap();
    let quickstart = Path::new(BIN).parent().unwrap().join("examples/quickstart");
    let output_path = dir.path().join("readme.out");
    let mut child = clean_command("bash", dir.path(), &database_url)
        .args(["-e", "readme.sh"])
        .env("README_TEST_API", &api)
        .env("README_TEST_BIN", BIN)
        .env("README_TEST_QUICKSTART", &quickstart)
        .stdout(File::create(&output_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    for skipped in output
        .lines()
        .filter(|l| l.starts_with("readme-test: SKIPPED"))
    {
        eprintln!("{skipped}");
    }
    if status.is_some_and(|s| s.success()) {
        return;
    }
    panic!(
        "the READMEs do not run verbatim: {} ({})\n--- the script's output (last 60 lines)\n{}\n\
         --- the server's log (last 60 lines)\n{}",
        failure_place(&output, &origin),
        status.map_or("timed out".to_owned(), |s| s.to_string()),
        tail(dir.path(), "readme.out"),
        tail(dir.path(), "server.log"),
    );
}

on_both_backends!(the_readmes_run_verbatim);

#[test]
fn blocks_are_found_in_order_with_their_lines_and_skip_markers() {
    let markdown = "text\n```sh\necho one\n```\n```toml\n```sh\n```\n\n\
                    <!-- readme-test: skip -->\n  ```sh\n  sleep 999\n  ```\n";
    let blocks = sh_blocks("X.md", markdown);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].line, blocks[0].text.clone()),
        (2, vec!["echo one".to_owned()])
    );
    assert!(!blocks[0].skipped);
    assert_eq!(
        (blocks[1].line, blocks[1].text.clone()),
        (10, vec!["sleep 999".to_owned()])
    );
    assert!(blocks[1].skipped);
}
