//! `switchboard run -- CMD ARGS…`: the environment's secrets (and resolved config) as
//! environment variables of a command, which is how a deploy job should receive them.
//!
//! - Nothing is written to disk unless `--mount` asks for it; then the values go to that one
//!   private file (mode 0600, created new) instead of the environment, and the file is removed
//!   when the command ends, by its own exit or by a signal `run` forwarded.
//! - A variable already set in the caller's environment is not silently replaced: a pipeline
//!   that sets `DATABASE_URL` for a reason should hear about the clash (`--override` accepts it).
//!   One already holding the same value is no clash, so `run` nests.
//! - The plaintext is kept in memory that is wiped on drop: the answer's body and each value.
//!   (The copies the operating system makes for the child's environment are outside our reach.)
//! - The CLI's own credentials ([`CREDENTIAL_VARS`]) are not the child's: a deploy script and
//!   everything it starts would otherwise act as the caller. `--pass-token` keeps them.
//! - Every exported key becomes a variable or `run` refuses to start (exit 2, naming the keys):
//!   a name that cannot be a variable, or a value holding NUL, is never silently left out.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use zeroize::Zeroizing;

use crate::child::Forwarder;
use crate::envfile::MountedFile;
use crate::error::{Error, Result};
use crate::profiles::{Connection, Target};

/// Set in the child to the `--mount` file's absolute path.
pub const MOUNT_PATH_VAR: &str = "SWITCHBOARD_SECRETS_FILE";

/// Variables that carry or select the CLI's credentials: removed from the child's environment
/// unless `--pass-token`. (A secret of the same name exported by the server is set anyway: that
/// one is meant for the child.)
pub const CREDENTIAL_VARS: [&str; 5] = [
    "SWITCHBOARD_TOKEN",
    "SWITCHBOARD_PROFILE",
    "SWITCHBOARD_CLI_CONFIG",
    // Keyless pipelines: the policy to exchange for, and GitLab's identity token. (GitHub's
    // ACTIONS_ID_TOKEN_REQUEST_* belong to the job, not to the CLI: they stay.)
    "SWITCHBOARD_OIDC_POLICY",
    "SWITCHBOARD_ID_TOKEN",
];

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  switchboard run --project shop --env production -- ./deploy.sh --canary"
)]
pub struct RunArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    target: Target,
    /// Only the secrets, not the environment's resolved configuration.
    #[arg(long, conflicts_with = "with_config")]
    only_secrets: bool,
    /// Secrets and resolved configuration (the default); a secret wins over a config key of
    /// the same name.
    #[arg(long)]
    with_config: bool,
    /// Replace variables already set in the environment (refused otherwise).
    #[arg(long = "override")]
    override_existing: bool,
    /// Write the values to this new file (mode 0600) instead of the environment; it is removed
    /// when the command ends. The child finds its path in SWITCHBOARD_SECRETS_FILE.
    #[arg(long, value_name = "PATH")]
    mount: Option<PathBuf>,
    /// Format of the --mount file (default: json for a `.json` path, else dotenv).
    #[arg(long, value_enum, requires = "mount")]
    format: Option<MountFormat>,
    /// Leave SWITCHBOARD_TOKEN (and SWITCHBOARD_PROFILE, SWITCHBOARD_CLI_CONFIG) in the
    /// command's environment; by default they are removed, so the command cannot act as you.
    #[arg(long)]
    pass_token: bool,
    /// The command to run, and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MountFormat {
    Dotenv,
    Json,
}

impl MountFormat {
    fn query(self) -> &'static str {
        match self {
            MountFormat::Dotenv => "dotenv",
            MountFormat::Json => "json",
        }
    }
}

pub async fn execute(args: RunArgs) -> ExitCode {
    match prepare(&args).await {
        Ok(prepared) => prepared.run(&args.command, args.pass_token).await,
        Err(error) => error.report(),
    }
}

/// Everything fetched and checked, with signal handlers in place, before the child starts.
struct Prepared {
    forwarder: Forwarder,
    variables: Vec<(String, EnvText)>,
    /// Dropped (removing the file) after the child has exited.
    mounted: Option<MountedFile>,
}

async fn prepare(args: &RunArgs) -> Result<Prepared> {
    let session = args.connection.connect(Some(&args.target)).await?;
    let (project, env) = session.project_env()?;
    let export = |format: &str| {
        let mut url = session.client.env_url(project, env, &["secrets", "export"]);
        url.query_pairs_mut()
            .append_pair("format", format)
            .append_pair(
                "include_config",
                if args.only_secrets { "false" } else { "true" },
            );
        url
    };
    if let Some(path) = &args.mount {
        let format =
            args.format
                .unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
                    Some("json") => MountFormat::Json,
                    _ => MountFormat::Dotenv,
                });
        let body = session.client.secret_body(export(format.query())).await?;
        // Before the file exists: from then on a signal must reach the child (and end with the
        // file removed), never kill us and leave it behind.
        let forwarder = Forwarder::install()?;
        let mounted = MountedFile::create(path, &body)?;
        let variables = vec![(
            MOUNT_PATH_VAR.to_owned(),
            EnvText(Zeroizing::new(mounted.path().display().to_string())),
        )];
        return Ok(Prepared {
            forwarder,
            variables,
            mounted: Some(mounted),
        });
    }
    let body = session.client.secret_body(export("json")).await?;
    let values: BTreeMap<String, EnvText> = serde_json::from_slice(&body).map_err(|e| {
        Error::Local(anyhow::anyhow!(
            "the server's export is not a JSON object: {e}"
        ))
    })?;
    refuse_unsettable(&values)?;
    if !args.override_existing {
        refuse_clashes(&values)?;
    }
    // Only now: while fetching, Ctrl-C should simply stop us.
    let forwarder = Forwarder::install()?;
    Ok(Prepared {
        forwarder,
        variables: values.into_iter().collect(),
        mounted: None,
    })
}

/// Keys no environment variable can carry: the server refuses to store them now, but older
/// entries may remain. Named (never their values) instead of being dropped or failing as the
/// command's own error.
fn refuse_unsettable(values: &BTreeMap<String, EnvText>) -> Result<()> {
    let names = |bad: &dyn Fn(&str, &str) -> bool| -> Vec<&str> {
        values
            .iter()
            .filter(|(name, value)| bad(name, value.0.as_str()))
            .map(|(name, _)| name.as_str())
            .collect()
    };
    let invalid = names(&|name, _| !is_env_var_name(name));
    if !invalid.is_empty() {
        return Err(Error::usage(format!(
            "keys that are not valid environment variable names (letters, digits and '_', not starting with a digit): {}; nothing was run\n  hint: rename them, or use --mount FILE.json",
            invalid.join(", ")
        )));
    }
    let nul = names(&|_, value| value.contains('\0'));
    if !nul.is_empty() {
        return Err(Error::usage(format!(
            "keys holding a NUL character, which no environment variable can carry: {}; nothing was run\n  hint: fix their values, or use --mount FILE.json",
            nul.join(", ")
        )));
    }
    Ok(())
}

fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A variable already set to something else is a clash; the message names them all.
fn refuse_clashes(values: &BTreeMap<String, EnvText>) -> Result<()> {
    let clashes: Vec<&str> = values
        .iter()
        .filter(|(name, value)| {
            std::env::var_os(name).is_some_and(|current| current != value.0.as_str())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "refusing to override variables already set in the environment: {}\n  hint: unset them, or pass --override to replace them",
        clashes.join(", ")
    )))
}

impl Prepared {
    async fn run(self, command: &[OsString], pass_token: bool) -> ExitCode {
        let Some((program, arguments)) = command.split_first() else {
            return Error::usage("no command to run").report();
        };
        let mut child = tokio::process::Command::new(program);
        child.args(arguments);
        if !pass_token {
            for name in CREDENTIAL_VARS {
                child.env_remove(name);
            }
        }
        for (name, value) in &self.variables {
            child.env(name, value.0.as_str());
        }
        drop(self.variables);
        let code = self.forwarder.run(child, program).await;
        drop(self.mounted);
        code
    }
}

/// One exported value as the text an environment variable carries (strings as they are, other
/// JSON values as their JSON text, as the server's dotenv export does), in wiped memory.
struct EnvText(Zeroizing<String>);

impl fmt::Debug for EnvText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvText(***)")
    }
}

impl<'de> Deserialize<'de> for EnvText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EnvTextVisitor)
    }
}

struct EnvTextVisitor;

impl EnvTextVisitor {
    fn json<E>(value: serde_json::Value) -> Result<EnvText, E> {
        Ok(EnvText(Zeroizing::new(value.to_string())))
    }
}

impl<'de> Visitor<'de> for EnvTextVisitor {
    type Value = EnvText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvText, E> {
        Ok(EnvText(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<EnvText, E> {
        Ok(EnvText(Zeroizing::new(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvText, E> {
        Self::json(v.into())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvText, E> {
        Self::json(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvText, E> {
        Self::json(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvText, E> {
        Self::json(v.into())
    }

    fn visit_unit<E: de::Error>(self) -> Result<EnvText, E> {
        Self::json(serde_json::Value::Null)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<EnvText, A::Error> {
        Self::json(serde_json::Value::deserialize(
            de::value::SeqAccessDeserializer::new(seq),
        )?)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EnvText, A::Error> {
        Self::json(serde_json::Value::deserialize(
            de::value::MapAccessDeserializer::new(map),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_values_become_the_text_a_dotenv_export_would_hold() {
        let values: BTreeMap<String, EnvText> = serde_json::from_str(
            r#"{"S":"a \"b\"\n","N":20,"F":2.5,"B":true,"A":["x",1],"O":{"k":null}}"#,
        )
        .unwrap();
        let text = |k: &str| values[k].0.as_str().to_owned();
        assert_eq!(text("S"), "a \"b\"\n");
        assert_eq!(text("N"), "20");
        assert_eq!(text("F"), "2.5");
        assert_eq!(text("B"), "true");
        assert_eq!(text("A"), r#"["x",1]"#);
        assert_eq!(text("O"), r#"{"k":null}"#);
        for (key, value) in [
            ("N", serde_json::json!(20)),
            ("A", serde_json::json!(["x", 1])),
        ] {
            assert_eq!(text(key), crate::output::as_text(&value));
        }
    }
}
