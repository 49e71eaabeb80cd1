//! The client commands of the `switchboard` binary against a real server: `run` with its
//! variables, exit codes, signals and `--mount` file; exports; operator commands; exit codes of
//! failures. Every command is the built binary, started with a clean environment.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

const ENV: &str = "/v1/projects/shop/environments/production";

/// Values that break naive quoting: quotes, `$`, backslashes, newlines, unicode.
fn tricky_secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DB_PASSWORD", "s3cr3t"),
        ("QUOTES", r#"say "quoted""#),
        ("DOLLAR", "$HOME and $(id) and `id`"),
        ("MULTI", "line one\nline two\n\ttabbed"),
        ("BACKSLASH", r"C:\path\n"),
        ("UNICODE", "naïve ☃ 日本"),
        ("SPACES", "  padded  "),
    ]
}

/// A server with project `shop`, environment `production`, the tricky secrets, and config
/// `REPLICAS = 3`, `REGIONS = ["eu","us"]`, `THEME = "dark"`.
async fn shop() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    for (name, value) in tricky_secrets() {
        put(&app, &format!("{ENV}/secrets/{name}"), json!(value)).await;
    }
    for (key, value) in [
        ("REPLICAS", json!(3)),
        ("REGIONS", json!(["eu", "us"])),
        ("THEME", json!("dark")),
    ] {
        put(&app, &format!("{ENV}/config/{key}"), value).await;
    }
    app
}

async fn put(app: &TestApp, path: &str, value: Value) {
    let response = app
        .request(Method::PUT, path)
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "PUT {path}");
}

/// The binary pointed at `app` with `token`, its config home in `home` (no operator's real
/// profiles leak in).
fn cli(app: &TestApp, token: &str, home: &Path) -> tokio::process::Command {
    let mut command = crate::cli::switchboard(app.data_dir.path());
    command
        .env("SWITCHBOARD_URL", &app.address)
        .env("SWITCHBOARD_TOKEN", token)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("HOME")
        .current_dir(home);
    tokio::process::Command::from(command)
}

fn admin(app: &TestApp, home: &Path) -> tokio::process::Command {
    cli(app, &app.admin_token, home)
}

async fn output(command: &mut tokio::process::Command) -> Output {
    command.output().await.expect("the switchboard binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        stderr(output)
    );
}

/// Waits for `path` to exist, failing the test after a deadline.
async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn sigterm(child: &tokio::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

#[tokio::test]
async fn run_passes_secrets_and_config_as_variables_and_exits_with_the_childs_code() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let names: Vec<&str> = tricky_secrets().iter().map(|(n, _)| *n).collect();
    // The child prints each variable NUL-terminated, then fails with its own code.
    let script = format!(
        "printf '%s\\0' {}; exit 7",
        ["REPLICAS", "REGIONS", "THEME"]
            .iter()
            .chain(&names)
            .map(|n| format!("\"${n}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );

    let run = output(admin(&app, home.path()).args([
        "run",
        "--project",
        "shop",
        "--env",
        "production",
        "--",
        "sh",
        "-c",
        &script,
    ]))
    .await;

    assert_eq!(run.status.code(), Some(7), "{}", stderr(&run));
    let received: Vec<String> = stdout(&run)
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let mut expected = vec!["3".to_owned(), r#"["eu","us"]"#.into(), "dark".into()];
    expected.extend(tricky_secrets().iter().map(|(_, v)| (*v).to_owned()));
    assert_eq!(received, expected);

    // --only-secrets leaves the config out; a successful child means exit 0.
    let only = output(admin(&app, home.path()).args([
        "run",
        "-p",
        "shop",
        "-e",
        "production",
        "--only-secrets",
        "--",
        "sh",
        "-c",
        "test -z \"$THEME\" && test \"$DB_PASSWORD\" = s3cr3t",
    ]))
    .await;
    assert_success(&only);
}

#[tokio::test]
async fn a_signal_sent_to_run_reaches_the_child_and_its_exit_code_comes_back() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let ready = home.path().join("ready");
    let child = admin(&app, home.path())
        .args(["run", "-p", "shop", "-e", "production", "--", "sh", "-c"])
        .arg("trap 'echo got TERM; exit 42' TERM; touch ready; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&ready).await;

    sigterm(&child);

    let run = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("run exits once its child has")
        .unwrap();
    assert_eq!(run.status.code(), Some(42), "{}", stderr(&run));
    assert_eq!(stdout(&run), "got TERM\n");
}

#[tokio::test]
async fn a_child_killed_by_a_signal_gives_128_plus_its_number() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let run = output(admin(&app, home.path()).args([
        "run",
        "-p",
        "shop",
        "-e",
        "production",
        "--",
        "sh",
        "-c",
        "kill -TERM $$",
    ]))
    .await;
    assert_eq!(run.status.code(), Some(128 + 15));
}

#[tokio::test]
async fn run_refuses_to_override_a_variable_already_set_unless_told_to() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let touched = home.path().join("ran");
    let args = |extra: &[&'static str]| {
        let mut args = vec!["run", "-p", "shop", "-e", "production"];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", "touch ran; printf %s \"$DB_PASSWORD\""]);
        args
    };

    let refused = output(
        admin(&app, home.path())
            .args(args(&[]))
            .env("DB_PASSWORD", "from-the-job")
            .env("THEME", "light"),
    )
    .await;
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(message.contains("DB_PASSWORD, THEME"), "{message}");
    assert!(message.contains("--override"), "{message}");
    assert!(!touched.exists(), "the command must not run");

    let overridden = output(
        admin(&app, home.path())
            .args(args(&["--override"]))
            .env("DB_PASSWORD", "from-the-job"),
    )
    .await;
    assert_success(&overridden);
    assert_eq!(stdout(&overridden), "s3cr3t");

    // The same value is no clash: nothing would be overridden.
    let same = output(
        admin(&app, home.path())
            .args(args(&[]))
            .env("DB_PASSWORD", "s3cr3t"),
    )
    .await;
    assert_success(&same);
}

#[tokio::test]
async fn a_mounted_file_is_private_while_the_command_runs_and_gone_afterwards() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let mut child = admin(&app, home.path())
        .args([
            "run", "-p", "shop", "-e", "production", "--mount", "secrets.env", "--", "sh", "-c",
        ])
        // Says where the file is, then holds it open until the test has looked.
        .arg("echo \"$SWITCHBOARD_SECRETS_FILE\" > where.tmp && mv where.tmp where; test -z \"$DB_PASSWORD\" || exit 9; while [ ! -f go ]; do sleep 0.02; done")
        .spawn()
        .unwrap();
    wait_for_file(&home.path().join("where")).await;
    let mounted = PathBuf::from(
        std::fs::read_to_string(home.path().join("where"))
            .unwrap()
            .trim(),
    );

    assert_eq!(
        mounted.canonicalize().unwrap(),
        home.path().join("secrets.env").canonicalize().unwrap()
    );
    let mode = std::fs::metadata(&mounted).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let parsed: HashMap<String, String> = dotenvy::from_path_iter(&mounted)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(parsed["MULTI"], "line one\nline two\n\ttabbed");
    assert_eq!(parsed["REPLICAS"], "3");

    std::fs::write(home.path().join("go"), "").unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !mounted.exists(),
        "the file is removed when the command ends"
    );
}

#[tokio::test]
async fn a_mounted_file_is_removed_when_run_is_terminated_and_never_replaces_a_file() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let mounted = home.path().join("secrets.json");
    let mut child = admin(&app, home.path())
        .args([
            "run",
            "-p",
            "shop",
            "-e",
            "production",
            "--mount",
            "secrets.json",
            "--",
            "sh",
            "-c",
            "touch ready; while :; do sleep 0.05; done",
        ])
        .spawn()
        .unwrap();
    wait_for_file(&home.path().join("ready")).await;
    let json: Value = serde_json::from_slice(&std::fs::read(&mounted).unwrap()).unwrap();
    assert_eq!(json["REPLICAS"], 3, "a .json path gets JSON, types kept");

    sigterm(&child);

    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert!(!mounted.exists());

    std::fs::write(&mounted, "mine").unwrap();
    let refused = output(admin(&app, home.path()).args([
        "run",
        "-p",
        "shop",
        "-e",
        "production",
        "--mount",
        "secrets.json",
        "--",
        "true",
    ]))
    .await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&mounted).unwrap(), "mine");
}

#[tokio::test]
async fn exports_round_trip_through_sh_and_a_dotenv_parser() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let export = |format: &'static str| {
        let mut command = admin(&app, home.path());
        command.args([
            "secrets",
            "export",
            "-p",
            "shop",
            "-e",
            "production",
            "--format",
            format,
        ]);
        command
    };

    let dotenv = output(&mut export("dotenv")).await;
    assert_success(&dotenv);
    let parsed: HashMap<String, String> = dotenvy::from_read_iter(dotenv.stdout.as_slice())
        .collect::<Result<_, _>>()
        .unwrap();
    for (name, value) in tricky_secrets() {
        assert_eq!(parsed.get(name).map(String::as_str), Some(value), "{name}");
    }

    let shell = output(export("shell").args(["--file", "secrets.sh"])).await;
    assert_success(&shell);
    let file = home.path().join("secrets.sh");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for (name, value) in tricky_secrets() {
        let printed = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". ./secrets.sh && printf '%s' \"${name}\""))
            .current_dir(home.path())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(printed.stdout).unwrap(), value, "{name}");
    }
    let again = output(export("shell").args(["--file", "secrets.sh"])).await;
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is not replaced"
    );
    assert_success(&output(export("shell").args(["--file", "secrets.sh", "--force"])).await);

    let config = output(admin(&app, home.path()).args([
        "config",
        "export",
        "-p",
        "shop",
        "-e",
        "production",
        "--format",
        "json",
    ]))
    .await;
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(
        config,
        json!({ "REGIONS": ["eu", "us"], "REPLICAS": 3, "THEME": "dark" })
    );
}

#[tokio::test]
async fn a_bad_token_exits_3_with_a_clear_message_and_runs_nothing() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let run = output(cli(&app, "not-a-token", home.path()).args([
        "run",
        "-p",
        "shop",
        "-e",
        "production",
        "--",
        "touch",
        "ran",
    ]))
    .await;
    assert_eq!(run.status.code(), Some(3));
    let message = stderr(&run);
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(
        message.contains("SWITCHBOARD_TOKEN"),
        "a hint says where the token came from: {message}"
    );
    assert!(!home.path().join("ran").exists());

    // A valid token without the scope: 403, the same exit code.
    let (reader, _) = app
        .issue_token(json!({ "name": "reader", "scopes": ["flags:read"], "projects": ["shop"] }))
        .await;
    let forbidden = output(cli(&app, &reader, home.path()).args([
        "secrets",
        "list",
        "-p",
        "shop",
        "-e",
        "production",
    ]))
    .await;
    assert_eq!(forbidden.status.code(), Some(3));
    assert!(stderr(&forbidden).contains("403 Forbidden"));
}

#[tokio::test]
async fn an_unknown_project_exits_4_and_an_unreachable_server_exits_5() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let unknown = output(admin(&app, home.path()).args([
        "flags",
        "list",
        "--project",
        "nope",
        "--env",
        "production",
    ]))
    .await;
    assert_eq!(unknown.status.code(), Some(4));
    assert!(
        stderr(&unknown).contains("not found"),
        "{}",
        stderr(&unknown)
    );

    let closed_port = crate::helpers::free_port();
    let down = output(admin(&app, home.path()).args([
        "secrets",
        "list",
        "-p",
        "shop",
        "-e",
        "production",
        "--url",
        &format!("http://127.0.0.1:{closed_port}"),
    ]))
    .await;
    assert_eq!(down.status.code(), Some(5));
    assert!(stderr(&down).contains("cannot reach"), "{}", stderr(&down));

    let no_url = output(
        admin(&app, home.path())
            .env_remove("SWITCHBOARD_URL")
            .args(["flags", "list", "-p", "shop"]),
    )
    .await;
    assert_eq!(no_url.status.code(), Some(2));
    assert!(stderr(&no_url).contains("SWITCHBOARD_URL"));
}

#[tokio::test]
async fn server_settings_in_the_environment_do_not_concern_remote_commands() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let listed = output(
        admin(&app, home.path())
            .args(["config", "get", "THEME", "-p", "shop", "-e", "production"])
            .env("SWITCHBOARD_LISTEN", "not-an-address")
            .env("SWITCHBOARD_DB_MAX_CONNECTIONS", "0")
            .env("SWITCHBOARD_CONFIG", "/nonexistent/switchboard.toml"),
    )
    .await;
    assert_success(&listed);
    assert_eq!(stdout(&listed), "dark\n");
}

#[tokio::test]
async fn secret_values_come_from_stdin_or_a_file_and_an_argument_needs_an_explicit_flag() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let set = |extra: &[&str]| {
        let mut command = admin(&app, home.path());
        command
            .args([
                "secrets",
                "set",
                "API_KEY",
                "-p",
                "shop",
                "-e",
                "production",
            ])
            .args(extra);
        command
    };
    let read = || async {
        let response = app.get(&format!("{ENV}/secrets/API_KEY")).await;
        response.json::<Value>().await.unwrap()["value"].clone()
    };

    let refused = output(&mut set(&["--value", "visible-in-ps"])).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--insecure-value-arg"));

    let mut piped = set(&[]).stdin(Stdio::piped()).spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = piped.stdin.take().unwrap();
        stdin.write_all(b"from stdin\n").await.unwrap();
    }
    assert!(piped.wait().await.unwrap().success());
    assert_eq!(
        read().await,
        "from stdin",
        "one trailing newline is dropped"
    );

    std::fs::write(home.path().join("key.pem"), "-----BEGIN-----\nabc\n").unwrap();
    assert_success(&output(&mut set(&["--from-file", "key.pem"])).await);
    assert_eq!(
        read().await,
        "-----BEGIN-----\nabc\n",
        "a file is taken byte for byte"
    );

    assert_success(&output(&mut set(&["--value", "demo", "--insecure-value-arg"])).await);
    assert_eq!(read().await, "demo");

    let got = output(admin(&app, home.path()).args([
        "secrets",
        "get",
        "API_KEY",
        "-p",
        "shop",
        "-e",
        "production",
    ]))
    .await;
    assert_eq!(stdout(&got), "demo", "not a terminal: the bare value");
    let history = output(admin(&app, home.path()).args([
        "secrets",
        "history",
        "API_KEY",
        "-p",
        "shop",
        "-e",
        "production",
        "-o",
        "json",
    ]))
    .await;
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn operators_toggle_roll_out_kill_and_roll_back_flags() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let flags = |args: &[&str]| {
        let mut command = admin(&app, home.path());
        command
            .args(["flags", "-p", "shop", "-e", "production", "-o", "json"])
            .args(args);
        command
    };
    let json = |output: &Output| -> Value {
        assert!(output.status.success(), "{}", stderr(output));
        serde_json::from_slice(&output.stdout).unwrap()
    };

    json(&output(&mut flags(&["create", "new-checkout"])).await);
    let enabled = json(&output(&mut flags(&["enable", "new-checkout"])).await);
    assert_eq!(enabled["enabled"], true);
    let rolled = json(&output(&mut flags(&["rollout", "new-checkout", "25%"])).await);
    assert_eq!(
        rolled["default_serve"]["split"][0],
        json!({ "variant": "on", "weight": 2500 })
    );

    json(&output(&mut flags(&["kill-all", "--reason", "errors"])).await);
    let switch: Value = app.get(&format!("{ENV}/kill")).await.json().await.unwrap();
    assert_eq!(switch["killed"], true);
    assert_eq!(switch["reason"], "errors");
    json(&output(&mut flags(&["restore"])).await);

    let killed = json(&output(&mut flags(&["kill", "new-checkout"])).await);
    assert_eq!(killed["enabled"], false);
    let history = json(&output(&mut flags(&["history", "new-checkout"])).await);
    assert_eq!(history["items"].as_array().unwrap().len(), 3);
    let back = json(&output(&mut flags(&["rollback", "new-checkout", "2"])).await);
    assert_eq!(back["enabled"], true);
    assert_eq!(back["version"], 4);

    let listed =
        output(admin(&app, home.path()).args(["flags", "list", "-p", "shop", "-e", "production"]))
            .await;
    assert_success(&listed);
    assert!(
        stdout(&listed).contains("new-checkout  boolean  on: on 25% / off 75%"),
        "{}",
        stdout(&listed)
    );
}

#[tokio::test]
async fn config_promotion_dry_run_shows_the_change_and_changes_nothing() {
    let app = shop().await;
    app.create_environment("shop", "staging", None).await;
    put(
        &app,
        "/v1/projects/shop/environments/staging/config/THEME",
        json!("light"),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let promote = |extra: &[&str]| {
        let mut command = admin(&app, home.path());
        command
            .args([
                "config",
                "promote",
                "--from",
                "staging",
                "-p",
                "shop",
                "-e",
                "production",
            ])
            .args(["--key", "THEME", "-o", "json"])
            .args(extra);
        command
    };

    let planned = output(&mut promote(&["--dry-run"])).await;
    assert_success(&planned);
    let planned: Value = serde_json::from_slice(&planned.stdout).unwrap();
    assert_eq!(planned["changes"][0]["before"], "dark");
    assert_eq!(planned["changes"][0]["after"], "light");
    let theme: Value = app
        .get(&format!("{ENV}/config/THEME"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theme["value"], "dark", "a dry run changes nothing");

    assert_success(&output(&mut promote(&[])).await);
    let theme: Value = app
        .get(&format!("{ENV}/config/THEME"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theme["value"], "light");
}

#[tokio::test]
async fn a_profile_supplies_url_token_project_and_environment() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("switchboard");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("prod.token"),
        format!("{}\n", app.admin_token),
    )
    .unwrap();
    std::fs::write(
        config_dir.join("cli.toml"),
        format!(
            "default_profile = \"prod\"\n\n[profiles.prod]\nurl = \"{}\"\ntoken_file = \"prod.token\"\nproject = \"shop\"\nenvironment = \"production\"\n",
            app.address
        ),
    )
    .unwrap();
    let bare = |args: &[&str]| {
        let mut command = admin(&app, home.path());
        command
            .env_remove("SWITCHBOARD_URL")
            .env_remove("SWITCHBOARD_TOKEN")
            .args(args);
        command
    };

    let theme = output(&mut bare(&["config", "get", "THEME"])).await;
    assert_success(&theme);
    assert_eq!(stdout(&theme), "dark\n");

    let missing = output(&mut bare(&[
        "config",
        "get",
        "THEME",
        "--profile",
        "staging",
    ]))
    .await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no profile \"staging\""));
}

#[tokio::test]
async fn a_token_issued_by_the_cli_is_printed_alone_and_can_be_revoked() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let issued = output(admin(&app, home.path()).args([
        "tokens",
        "issue",
        "--name",
        "deploy",
        "--scope",
        "secrets:read,config:read",
        "--project",
        "shop",
        "--env",
        "production",
        "--ttl",
        "15m",
    ]))
    .await;
    assert_success(&issued);
    let token = stdout(&issued).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "stdout is the token alone");

    let current =
        output(cli(&app, &token, home.path()).args(["tokens", "current", "-o", "json"])).await;
    let current: Value = serde_json::from_slice(&current.stdout).unwrap();
    assert_eq!(current["name"], "deploy");

    let revoked = output(admin(&app, home.path()).args([
        "tokens",
        "revoke",
        current["id"].as_str().unwrap(),
    ]))
    .await;
    assert_success(&revoked);
    let refused = output(cli(&app, &token, home.path()).args(["tokens", "current"])).await;
    assert_eq!(refused.status.code(), Some(3));
}

#[tokio::test]
async fn webhooks_are_registered_listed_and_their_deliveries_read_from_the_cli() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::webhook_receiver::Receiver::up().await;
    let url = receiver.url();
    let created = output(admin(&app, home.path()).args([
        "webhooks",
        "create",
        &url,
        "--project",
        "shop",
        "--events",
        "flag.*,environment.kill",
    ]))
    .await;
    assert_success(&created);
    let text = stdout(&created);
    assert!(text.contains("signing secret (shown once"), "{text}");
    assert!(text.contains("whsec_"), "{text}");

    let listed =
        output(admin(&app, home.path()).args(["webhooks", "list", "-p", "shop", "-o", "json"]))
            .await;
    assert_success(&listed);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["events"], json!(["flag.*", "environment.kill"]));
    assert!(listed[0].get("secret").is_none());
    let id = listed[0]["id"].as_str().unwrap().to_owned();

    app.create_boolean_flag("shop", "checkout").await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log =
            output(admin(&app, home.path()).args(["webhooks", "deliveries", &id, "-p", "shop"]))
                .await;
        assert_success(&log);
        let text = stdout(&log);
        if text.contains("delivered") {
            assert!(
                text.contains("flag.create") && text.contains("200"),
                "{text}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disabled = output(admin(&app, home.path()).args([
        "webhooks",
        "update",
        &id,
        "-p",
        "shop",
        "--disable",
    ]))
    .await;
    assert_success(&disabled);
    let one = app
        .call(
            Method::GET,
            &format!("/v1/projects/shop/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(one["enabled"], false);
}
