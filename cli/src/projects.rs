//! `switchboard projects …` and `switchboard environments …`: enough to set up a project from
//! a script (list and create); renaming and deleting stay with the API, where deletion asks for
//! the name as confirmation.

use clap::{Args, Subcommand};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::api::{Environment, Project};
use crate::client::Client;
use crate::error::Result;
use crate::output::{Out, OutputArgs, Table, cell, time};
use crate::profiles::{Connection, Target};

#[derive(Debug, Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectsCommand {
    /// The projects the token reaches.
    List,
    /// Create a project (needs an admin token for all projects).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Debug, Args)]
pub struct EnvironmentsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Project (default: the profile's).
    #[arg(
        long,
        short = 'p',
        env = "SWITCHBOARD_PROJECT",
        global = true,
        value_name = "PROJECT"
    )]
    project: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: EnvironmentsCommand,
}

#[derive(Debug, Subcommand)]
enum EnvironmentsCommand {
    /// The project's environments, in their order.
    List,
    /// Create an environment, optionally inheriting config from a parent.
    Create {
        name: String,
        /// Environment whose configuration this one inherits.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

pub async fn execute_projects(args: ProjectsArgs) -> Result<()> {
    let session = args.connection.connect(None).await?;
    let out = args.output.out();
    match args.command {
        ProjectsCommand::List => list_projects(&session.client, &out).await,
        ProjectsCommand::Create { name, description } => {
            create_project(&session.client, &out, &name, &description).await
        }
    }
}

async fn list_projects(client: &Client, out: &Out) -> Result<()> {
    let projects = client.get_all(client.url(&["v1", "projects"])).await?;
    out.emit(&json!(projects), |projects: Vec<Project>| {
        let mut table = Table::new(["NAME", "DESCRIPTION", "CREATED"]);
        for project in projects {
            table.row([
                cell(&project.name),
                cell(&project.description),
                time(Some(&project.created_at)),
            ]);
        }
        table
    })
}

async fn create_project(client: &Client, out: &Out, name: &str, description: &str) -> Result<()> {
    let body = json!({ "name": name, "description": description });
    let url = client.url(&["v1", "projects"]);
    let project = client.json(Method::POST, url, Some(&body)).await?;
    out.emit_line(&project, |p: Project| {
        format!("created project {}", cell(&p.name))
    })
}

pub async fn execute_environments(args: EnvironmentsArgs) -> Result<()> {
    let target = Target {
        project: args.project,
        environment: None,
    };
    let session = args.connection.connect(Some(&target)).await?;
    let client = &session.client;
    let out = args.output.out();
    let url = client.url(&["v1", "projects", session.project()?, "environments"]);
    match args.command {
        EnvironmentsCommand::List => list_environments(client, &out, url).await,
        EnvironmentsCommand::Create {
            name,
            parent,
            description,
        } => {
            let body = json!({ "name": name, "parent": parent, "description": description });
            create_environment(client, &out, url, &body).await
        }
    }
}

async fn list_environments(client: &Client, out: &Out, url: Url) -> Result<()> {
    let environments = client.get_all(url).await?;
    out.emit(&json!(environments), |environments: Vec<Environment>| {
        let mut table = Table::new(["NAME", "PARENT", "REVISION", "DESCRIPTION"]);
        for env in environments {
            table.row([
                cell(&env.name),
                cell(&env.parent),
                cell(&env.revision),
                cell(&env.description),
            ]);
        }
        table
    })
}

async fn create_environment(client: &Client, out: &Out, url: Url, body: &Value) -> Result<()> {
    let env = client.json(Method::POST, url, Some(body)).await?;
    out.emit_line(&env, |e: Environment| {
        format!(
            "created environment {}/{}{}",
            cell(&e.project),
            cell(&e.name),
            match e.parent {
                Some(parent) => format!(" (inherits from {parent})"),
                None => String::new(),
            }
        )
    })
}
