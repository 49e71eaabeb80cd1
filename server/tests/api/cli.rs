//! The `switchboard` binary itself: host-side commands, settings, and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchboard_server::settings::Settings;
use switchboard_server::startup::Application;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// The binary with a clean environment: no setting leaks in from the developer's shell.
pub fn switchboard(data_dir: &Path) -> Command {
    with_clean_env(Command::new(BIN), data_dir)
}

pub fn with_clean_env(mut command: Command, data_dir: &Path) -> Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHBOARD_") || key == "DATABASE_URL" || key == "REDIS_URL" {
            command.env_remove(key);
        }
    }
    command
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the switchboard binary runs")
}

#[tokio::test]
async fn bootstrap_token_prints_only_a_working_admin_token_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(switchboard(dir.path()).args(["bootstrap-token", "--name", "automation"]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout holds the token and nothing else: {stdout:?}"
    );
    let token = lines[0].to_owned();
    assert_eq!(token.split('.').count(), 3);

    // A server on the same data directory accepts it, and it can run next to that server.
    let mut app = Application::build(Settings::for_tests(dir.path()))
        .await
        .unwrap();
    let _ = app.take_initial_admin_token();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let get = |token: String, path: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            client
                .request(Method::GET, url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let me: Value = get(token.clone(), "/v1/tokens/current")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "automation");
    assert_eq!(me["scopes"], serde_json::json!(["admin"]));

    let output = run(switchboard(dir.path()).arg("bootstrap-token"));
    assert!(output.status.success());
    let second = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(
        get(second, "/v1/tokens/current").await.status(),
        StatusCode::OK
    );

    let audit: Value = get(token, "/v1/audit?action=token.issue")
        .await
        .json()
        .await
        .unwrap();
    let actors: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [
            "host:bootstrap-token",
            "host:first-start",
            "host:bootstrap-token"
        ]
    );
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 5] = [
        ("SWITCHBOARD_LISTEN", "not-an-address", "--listen"),
        (
            "SWITCHBOARD_DB_MAX_CONNECTIONS",
            "0",
            "--db-max-connections",
        ),
        ("DATABASE_URL", "mysql://localhost/x", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL"),
        (
            "SWITCHBOARD_MASTER_KEY",
            "k1:not-base64!",
            "SWITCHBOARD_MASTER_KEY",
        ),
    ];
    for (variable, value, named) in cases {
        let output = run(switchboard(dir.path()).arg("serve").env(variable, value));
        assert!(
            !output.status.success(),
            "{variable}={value} must stop start-up"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{variable}: {stderr}");
        assert!(
            !stderr.contains("not-base64!") || variable != "SWITCHBOARD_MASTER_KEY",
            "keys are never echoed"
        );
    }
}

#[test]
fn the_config_file_sets_defaults_that_environment_and_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ndb_max_connections = 3\n",
            from_file.display().to_string()
        ),
    )
    .unwrap();

    let mut command = switchboard(dir.path());
    command
        .env_remove("SWITCHBOARD_DATA_DIR")
        .args(["migrate", "--config"])
        .arg(&config);
    let output = run(&mut command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(from_file.join("switchboard.db").exists());

    let mut command = switchboard(&from_env);
    command.env("SWITCHBOARD_CONFIG", &config).arg("migrate");
    assert!(run(&mut command).status.success());
    assert!(
        from_env.join("switchboard.db").exists(),
        "the environment beats the file"
    );

    std::fs::write(&config, "colour = \"blue\"\n").unwrap();
    let output = run(switchboard(dir.path())
        .args(["migrate", "--config"])
        .arg(&config));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown setting `colour`"));
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let mut child = switchboard(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Not a terminal: the first admin token goes to a private file, written once the server is
    // built (the socket may accept connections a moment before).
    let token_file = dir.path().join("initial-admin-token");
    while std::fs::read_to_string(&token_file).map_or(true, |t| t.trim().is_empty()) {
        assert!(Instant::now() < deadline, "no initial admin token");
        std::thread::sleep(Duration::from_millis(10));
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    let body = br#"{"name":"drained"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        token.trim(),
        body.len()
    )
    .unwrap();
    // `100 Continue` says the server has the request in hand and waits for its body.
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&body[..5]).unwrap();
    stream.flush().unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // Once it stops accepting new connections it has seen the signal.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server kept accepting after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stream.write_all(&body[5..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Waits (at most 30 s) until a server started at `base` answers `/healthz`; `log` says why not.
pub async fn wait_until_answering(base: &str, log: impl Fn() -> String) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start: {}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `switchboard serve` child process with its stderr in a file, ready to answer.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
    pub admin_token: String,
    pub log_path: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts the binary on a free port in `dir` with extra environment variables and waits
    /// until it answers.
    pub async fn start(dir: &Path, envs: &[(&str, String)]) -> Self {
        let port = crate::helpers::free_port();
        let log_path = dir.join("stderr.log");
        let mut command = switchboard(dir);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap());
        for (key, value) in envs {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_until_answering(&base, || {
            std::fs::read_to_string(&log_path).unwrap_or_default()
        })
        .await;
        let admin_token = std::fs::read_to_string(dir.join("initial-admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            child,
            base,
            admin_token,
            log_path,
        }
    }

    /// Stops it with SIGTERM, checks it exited cleanly, and returns everything it logged.
    pub fn stop(mut self) -> String {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(self.child.wait().unwrap().success());
        std::fs::read_to_string(&self.log_path).unwrap()
    }
}

/// Every connection and stream is a file descriptor: a server started with a low soft limit
/// (the usual default is 1 024) raises it to the hard limit before it listens.
#[tokio::test]
async fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    use nix::sys::resource::{Resource, getrlimit};

    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let low = 256.min(hard / 2);
    let dir = tempfile::tempdir().unwrap();
    // The shell lowers the soft limit, then becomes the server.
    let port = crate::helpers::free_port();
    let start = format!("ulimit -Sn {low} && exec \"$0\" serve --listen 127.0.0.1:{port}");
    let mut command = with_clean_env(Command::new("bash"), dir.path());
    command
        .args(["-c", &start, BIN])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    // Listening means start-up is over (the limit is raised before the listener is bound).
    wait_until_answering(&format!("http://127.0.0.1:{port}"), String::new).await;

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let soft: Option<u64> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        soft,
        Some(hard.min(1 << 20)),
        "started at {low}, hard limit {hard}"
    );
}
