//! Where the server is, who is asking, and which project and environment: from flags, the
//! environment, or a named profile of the operator's config file.
//!
//! Precedence, highest first: flag, environment variable (`SWITCHBOARD_URL`,
//! `SWITCHBOARD_TOKEN`, `SWITCHBOARD_PROJECT`, `SWITCHBOARD_ENVIRONMENT`), the selected profile.
//! CI needs no file at all; operators keep one per server:
//!
//! ```toml
//! # ~/.config/switchboard/cli.toml (or $SWITCHBOARD_CLI_CONFIG)
//! default_profile = "staging"
//!
//! [profiles.staging]
//! url = "https://switchboard.example.com"
//! token_file = "~/.config/switchboard/staging.token"
//! project = "shop"
//! environment = "staging"
//! ```
//!
//! There is no built-in default URL: a pipeline that forgot to say where the server is fails
//! with a usage error instead of talking to whatever listens on localhost.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::{OutputArgs, Table, cell};

/// Where the server is and who is asking; on every remote command.
#[derive(Clone, Args)]
pub struct Connection {
    /// Server URL, e.g. `https://switchboard.example.com`.
    #[arg(long, env = "SWITCHBOARD_URL", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token. Prefer the environment variable: an argument lands in shell history.
    #[arg(
        long,
        env = "SWITCHBOARD_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Profile of the CLI config file (default: its `default_profile`).
    #[arg(long, env = "SWITCHBOARD_PROFILE", global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// In CI: exchange the job's OIDC identity token for a short-lived token of this trust
    /// policy (`project/name`) instead of using a stored token (see `switchboard login`).
    #[arg(
        long,
        env = "SWITCHBOARD_OIDC_POLICY",
        global = true,
        value_name = "PROJECT/NAME"
    )]
    pub oidc_policy: Option<String>,
    /// Audience asked of GitHub Actions for the identity token (default: the server URL); one
    /// of the policy's `audiences`. GitLab's is set in the job's `id_tokens:` block.
    #[arg(
        long,
        env = "SWITCHBOARD_OIDC_AUDIENCE",
        global = true,
        value_name = "AUDIENCE"
    )]
    pub oidc_audience: Option<String>,
}

impl fmt::Debug for Connection {
    // Hand-written: the token must never reach a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("profile", &self.profile)
            .field("oidc_policy", &self.oidc_policy)
            .finish()
    }
}

/// The project and environment a command works on.
#[derive(Clone, Debug, Args)]
pub struct Target {
    /// Project (default: the profile's).
    #[arg(
        long,
        short = 'p',
        env = "SWITCHBOARD_PROJECT",
        global = true,
        value_name = "PROJECT"
    )]
    pub project: Option<String>,
    /// Environment (default: the profile's).
    #[arg(
        long = "env",
        short = 'e',
        env = "SWITCHBOARD_ENVIRONMENT",
        global = true,
        value_name = "ENV"
    )]
    pub environment: Option<String>,
}

/// A client for the server, and the project and environment the command names (if any).
#[derive(Debug)]
pub struct Session {
    pub client: Client,
    project: Option<String>,
    environment: Option<String>,
}

impl Session {
    pub fn project(&self) -> Result<&str> {
        self.project.as_deref().ok_or_else(|| {
            Error::usage(
                "no project: pass --project, set SWITCHBOARD_PROJECT, or name one in the profile",
            )
        })
    }

    pub fn environment(&self) -> Result<&str> {
        self.environment.as_deref().ok_or_else(|| {
            Error::usage(
                "no environment: pass --env, set SWITCHBOARD_ENVIRONMENT, or name one in the profile",
            )
        })
    }

    /// Both, for the many commands that act on one environment.
    pub fn project_env(&self) -> Result<(&str, &str)> {
        Ok((self.project()?, self.environment()?))
    }

    /// The environment when one was named; commands that can do without it use this.
    pub fn environment_if_any(&self) -> Option<&str> {
        self.environment.as_deref()
    }
}

impl Connection {
    /// Resolves flags, environment and profile into a client (and the target, when given).
    pub async fn connect(&self, target: Option<&Target>) -> Result<Session> {
        let file = ConfigFile::load()?;
        let profile = file.select(self.profile.as_deref())?;
        let url = self
            .url
            .clone()
            .or_else(|| profile.and_then(|(_, p)| p.url.clone()))
            .ok_or_else(|| {
                Error::usage(
                    "no server URL: pass --url, set SWITCHBOARD_URL, or add a profile to the CLI config file",
                )
            })?;
        let url = parse_url(&url)?;
        let token = match (&self.token, &self.oidc_policy) {
            (Some(_), Some(_)) => {
                return Err(Error::usage(
                    "--token (SWITCHBOARD_TOKEN) and --oidc-policy (SWITCHBOARD_OIDC_POLICY) exclude each other: pick one",
                ));
            }
            (None, Some(policy)) => {
                crate::oidc::token_for(&url, policy, self.oidc_audience.as_deref()).await?
            }
            (Some(token), None) => Zeroizing::new(token.clone()),
            (None, None) => match profile {
                Some((name, p)) => p.token(name, &file.path)?,
                None => None,
            }
            .ok_or_else(|| {
                Error::usage("no token: pass --token, set SWITCHBOARD_TOKEN, or give the profile a token_file")
            })?,
        };
        let pick = |flag: Option<&String>, from_profile: fn(&Profile) -> &Option<String>| {
            flag.cloned()
                .or_else(|| profile.and_then(|(_, p)| from_profile(p).clone()))
        };
        Ok(Session {
            client: Client::new(url, token)?,
            project: pick(target.and_then(|t| t.project.as_ref()), |p| &p.project),
            environment: pick(target.and_then(|t| t.environment.as_ref()), |p| {
                &p.environment
            }),
        })
    }
}

fn parse_url(text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| Error::usage(format!("server URL {text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::usage(format!(
            "server URL {text:?} must be http:// or https:// with a host"
        )));
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        eprintln!("switchboard: warning: {text} is plain http; the token travels unencrypted");
    }
    Ok(url)
}

/// The operator's config file: named profiles. Absent is fine (CI has none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(skip)]
    path: PathBuf,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    /// Inline token; `token_file` keeps it out of a file that gets shared or committed.
    token: Option<String>,
    token_file: Option<PathBuf>,
    project: Option<String>,
    environment: Option<String>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("token_file", &self.token_file)
            .field("project", &self.project)
            .field("environment", &self.environment)
            .finish()
    }
}

/// `SWITCHBOARD_CLI_CONFIG`, else `$XDG_CONFIG_HOME/switchboard/cli.toml`, else
/// `~/.config/switchboard/cli.toml`; and whether it was named explicitly.
pub fn config_path() -> Option<(PathBuf, bool)> {
    if let Some(path) = std::env::var_os("SWITCHBOARD_CLI_CONFIG") {
        return Some((PathBuf::from(path), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|home| home.join(".config")))?;
    Some((base.join("switchboard").join("cli.toml"), false))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl ConfigFile {
    fn load() -> Result<Self> {
        let Some((path, explicit)) = config_path() else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(Error::usage(format!(
                    "CLI config file {}: {e}",
                    path.display()
                )));
            }
        };
        let mut file: ConfigFile = toml::from_str(&text)
            .map_err(|e| Error::usage(format!("CLI config file {}: {e}", path.display())))?;
        if file.profiles.values().any(|p| p.token.is_some()) {
            warn_if_shared(&path);
        }
        file.path = path;
        Ok(file)
    }

    /// The named profile (an error if it does not exist), else the default one, else none.
    fn select(&self, name: Option<&str>) -> Result<Option<(&str, &Profile)>> {
        let Some(name) = name.or(self.default_profile.as_deref()) else {
            return Ok(None);
        };
        match self.profiles.get_key_value(name) {
            Some((name, profile)) => Ok(Some((name.as_str(), profile))),
            None => Err(Error::usage(format!(
                "no profile {name:?} in the CLI config file{}",
                if self.path.as_os_str().is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.path.display())
                }
            ))),
        }
    }
}

impl Profile {
    fn token(&self, name: &str, config: &Path) -> Result<Option<Zeroizing<String>>> {
        if let Some(token) = &self.token {
            return Ok(Some(Zeroizing::new(token.clone())));
        }
        let Some(file) = &self.token_file else {
            return Ok(None);
        };
        let path = expand(file, config);
        warn_if_shared(&path);
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            Error::usage(format!(
                "profile {name}: token_file {}: {e}",
                path.display()
            ))
        })?);
        Ok(Some(Zeroizing::new(text.trim().to_owned())))
    }

    fn token_source(&self, config: &Path) -> String {
        match (&self.token, &self.token_file) {
            (Some(_), _) => "inline".into(),
            (None, Some(file)) => expand(file, config).display().to_string(),
            (None, None) => "-".into(),
        }
    }
}

/// `~/` is the home directory; a relative path is relative to the config file.
fn expand(path: &Path, config: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home()) {
        return home.join(rest);
    }
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// Tokens are credentials: say so when a file holding one is readable by others (as ssh does).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "switchboard: warning: {} holds a token and is readable by others; chmod 600 it",
                path.display()
            );
        }
    }
}

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: ProfilesCommand,
}

#[derive(Debug, Subcommand)]
enum ProfilesCommand {
    /// List the profiles of the CLI config file (never their tokens).
    List,
    /// Print the path of the CLI config file.
    Path,
}

pub fn execute(args: ProfilesArgs) -> Result<()> {
    match args.command {
        ProfilesCommand::Path => {
            let (path, _) = config_path()
                .ok_or_else(|| Error::usage("neither SWITCHBOARD_CLI_CONFIG nor HOME is set"))?;
            args.output.out().line(&path.display().to_string())
        }
        ProfilesCommand::List => list(&args.output),
    }
}

/// One profile as `profiles list` shows it; `--output json` prints these fields.
#[derive(Serialize, Deserialize)]
struct ProfileRow {
    name: String,
    default: bool,
    url: Option<String>,
    project: Option<String>,
    environment: Option<String>,
    token: String,
}

fn list(output: &OutputArgs) -> Result<()> {
    let file = ConfigFile::load()?;
    let default = file.default_profile.as_deref();
    let rows: Vec<ProfileRow> = file
        .profiles
        .iter()
        .map(|(name, p)| ProfileRow {
            name: name.clone(),
            default: Some(name.as_str()) == default,
            url: p.url.clone(),
            project: p.project.clone(),
            environment: p.environment.clone(),
            token: p.token_source(&file.path),
        })
        .collect();
    let rows = serde_json::to_value(rows).map_err(anyhow::Error::from)?;
    output.out().emit(&rows, |rows: Vec<ProfileRow>| {
        let mut table = Table::new(["", "PROFILE", "URL", "PROJECT", "ENV", "TOKEN"]);
        for row in rows {
            table.row([
                if row.default { "*" } else { "" }.to_owned(),
                cell(&row.name),
                cell(&row.url),
                cell(&row.project),
                cell(&row.environment),
                cell(&row.token),
            ]);
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_file_parses_and_rejects_typos() {
        let file: ConfigFile = toml::from_str(
            "default_profile = \"a\"\n[profiles.a]\nurl = \"http://127.0.0.1:1\"\nproject = \"shop\"\n",
        )
        .unwrap();
        let (name, profile) = file.select(None).unwrap().unwrap();
        assert_eq!(name, "a");
        assert_eq!(profile.project.as_deref(), Some("shop"));
        assert!(file.select(Some("b")).is_err());
        assert!(toml::from_str::<ConfigFile>("[profiles.a]\nurll = \"x\"\n").is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_url("https://switchboard.example.com/base/").is_ok());
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("127.0.0.1:8080").is_err());
    }

    #[test]
    fn token_files_expand_home_and_resolve_next_to_the_config() {
        let config = Path::new("/etc/sb/cli.toml");
        assert_eq!(
            expand(Path::new("prod.token"), config),
            PathBuf::from("/etc/sb/prod.token")
        );
        assert_eq!(expand(Path::new("/abs/t"), config), PathBuf::from("/abs/t"));
    }
}
