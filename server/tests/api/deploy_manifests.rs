//! The deployment files (Dockerfile, deploy/compose.yaml, deploy/nginx.conf,
//! deploy/kubernetes/) agree with the binary they deploy, so that they cannot drift from it:
//! every environment variable they set is one of its settings, every command they run parses
//! as one of its commands, probes ask for the routes it serves with the documented meaning,
//! ports are the ones it listens on, grace periods cover its drain, and the master key and
//! connection strings come from secrets. Schema validity is `deploy/validate.sh`'s (CI).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use serde_json::Value;
use switchboard_server::cli::Cli;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every environment variable the binary reads a setting from.
fn settings_variables() -> BTreeSet<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// Whether `args` (without the program name) is a command line the binary accepts.
fn parses(args: &[&str]) -> bool {
    Cli::command()
        .try_get_matches_from(std::iter::once("switchboard").chain(args.iter().copied()))
        .is_ok()
}

/// The paths the server routes `GET` for.
fn served_paths() -> BTreeSet<String> {
    switchboard_server::api::routes()
        .table()
        .into_iter()
        .filter(|(method, _)| method == "GET")
        .map(|(_, path)| path)
        .collect()
}

fn compose_instances(compose: &Value) -> Vec<(&String, &Value)> {
    let services = compose["services"].as_object().unwrap();
    let instances: Vec<_> = services
        .iter()
        .filter(|(name, _)| name.starts_with("switchboard"))
        .collect();
    assert_eq!(instances.len(), 2, "two instances behind the proxy");
    instances
}

fn deployment() -> Value {
    yaml("deploy/kubernetes/base/deployment.yaml")
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

/// The container's `env` entries by name.
fn env_of(container: &Value) -> Vec<(&str, &Value)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["name"].as_str().unwrap(), entry))
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a str {
    env_of(container)
        .into_iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, entry)| entry["value"].as_str())
        .unwrap_or_else(|| panic!("{name} is set in the Deployment"))
}

fn port_of(listen: &str) -> u16 {
    listen.rsplit(':').next().unwrap().parse().unwrap()
}

/// The `ENV`, `ARG`, `USER`, … instructions of the Dockerfile's final stage, continuation
/// lines joined.
fn final_stage() -> Vec<String> {
    let text = read("Dockerfile").replace("\\\n", " ");
    let stages: Vec<&str> = text.split("\nFROM ").collect();
    let last = stages.last().unwrap();
    assert!(
        last.starts_with("scratch"),
        "the final stage is FROM scratch"
    );
    last.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// The JSON array of an exec-form instruction (`CMD ["/switchboard", "serve"]`).
fn exec_form(line: &str) -> Vec<String> {
    let start = line.find('[').unwrap();
    serde_json::from_str(&line[start..]).unwrap()
}

fn as_strs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

#[test]
fn every_environment_variable_the_deployment_files_set_is_a_setting_of_the_binary() {
    let known = settings_variables();
    let mut set = Vec::new();
    for (name, service) in compose_instances(&yaml("deploy/compose.yaml")) {
        for variable in service["environment"].as_object().unwrap().keys() {
            set.push((format!("compose {name}"), variable.clone()));
        }
    }
    for (variable, _) in env_of(container(&deployment())) {
        set.push(("the Deployment".into(), variable.to_owned()));
    }
    for line in final_stage().iter().filter(|l| l.starts_with("ENV ")) {
        for assignment in line["ENV ".len()..].split_whitespace() {
            let variable = assignment.split('=').next().unwrap();
            set.push(("the Dockerfile".into(), variable.to_owned()));
        }
    }
    assert!(set.len() > 10, "the files were read: {set:?}");
    let unknown: Vec<_> = set.iter().filter(|(_, v)| !known.contains(v)).collect();
    assert!(
        unknown.is_empty(),
        "not settings of the binary: {unknown:?}"
    );
}

#[test]
fn the_image_runs_the_binary_as_a_non_root_user_with_its_version_and_its_own_healthcheck() {
    let stage = final_stage();
    let line = |prefix: &str| {
        stage
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("the final stage has {prefix}"))
            .clone()
    };
    let version = line("ARG VERSION=");
    assert_eq!(
        version.trim_start_matches("ARG VERSION="),
        env!("CARGO_PKG_VERSION")
    );
    assert!(line("LABEL ").contains("org.opencontainers.image.version=\"${VERSION}\""));
    let user = line("USER ");
    let uid: u32 = user["USER ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(uid, 0, "not root");
    assert_eq!(line("VOLUME "), "VOLUME [\"/data\"]");
    assert!(line("ENV ").contains("SWITCHBOARD_DATA_DIR=/data"));

    let healthcheck = exec_form(&line("HEALTHCHECK "));
    let entrypoint = exec_form(&line("ENTRYPOINT "));
    let cmd = exec_form(&line("CMD "));
    assert_eq!(entrypoint, ["/switchboard"]);
    assert_eq!(healthcheck[0], "/switchboard");
    assert!(parses(&as_strs(&healthcheck[1..])), "{healthcheck:?}");
    assert!(parses(&as_strs(&cmd)), "{cmd:?}");
    assert_eq!(cmd, ["serve"]);
}

#[test]
fn the_compose_stack_checks_readiness_with_the_binary_and_takes_the_master_key_as_a_secret() {
    let compose = yaml("deploy/compose.yaml");
    let nginx = read("deploy/nginx.conf");
    for (name, service) in compose_instances(&compose) {
        let test: Vec<&str> = service["healthcheck"]["test"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(test[..2], ["CMD", "/switchboard"], "{name}");
        assert!(parses(&test[2..]), "{name}: {test:?}");
        let environment = &service["environment"];
        assert_eq!(
            environment["SWITCHBOARD_MASTER_KEY_FILE"],
            "/run/secrets/master_key"
        );
        assert_eq!(service["secrets"][0], "master_key");
        assert!(environment.get("SWITCHBOARD_MASTER_KEY").is_none());
        assert!(service["read_only"].as_bool().unwrap());
        let port = port_of(environment["SWITCHBOARD_LISTEN"].as_str().unwrap());
        assert!(
            nginx.contains(&format!("server {name}:{port}")),
            "nginx proxies to {name}:{port}"
        );
        // The drain and then the background loops take the shutdown timeout each at most.
        let timeout: u64 = environment["SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let grace: u64 = service["stop_grace_period"]
            .as_str()
            .unwrap()
            .trim_end_matches('s')
            .parse()
            .unwrap();
        assert!(grace > 2 * timeout, "{name}: stop_grace_period {grace}s");
    }
    assert!(compose["secrets"]["master_key"]["file"].is_string());
    let stream = nginx.split("location = /v1/sdk/stream").nth(1).unwrap();
    assert!(
        stream.contains("proxy_buffering off;"),
        "streams are not buffered"
    );
}

#[test]
fn kubernetes_probes_ask_for_the_served_routes_with_their_documented_meaning() {
    let deployment = deployment();
    let container = container(&deployment);
    let served = served_paths();
    let probe = |kind: &str| {
        let get = &container[kind]["httpGet"];
        assert_eq!(get["port"], "http", "{kind} probes the named port");
        let path = get["path"].as_str().unwrap().to_owned();
        assert!(served.contains(&path), "{kind}: {path} is served");
        path
    };
    // Alive (restart when it fails) is /healthz; ready (traffic) is /readyz. A server waiting
    // for its database is alive and not ready, so the startup probe must not ask for /readyz,
    // or a database outage at start would restart every pod in a loop.
    assert_eq!(probe("livenessProbe"), "/healthz");
    assert_eq!(probe("startupProbe"), "/healthz");
    assert_eq!(probe("readinessProbe"), "/readyz");

    let port = &container["ports"][0];
    assert_eq!(port["name"], "http");
    assert_eq!(
        port["containerPort"].as_u64().unwrap(),
        u64::from(port_of(env_value(container, "SWITCHBOARD_LISTEN")))
    );
    let service = yaml("deploy/kubernetes/base/service.yaml");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn kubernetes_gives_a_pod_the_time_its_drain_may_take() {
    let deployment = deployment();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = container(&deployment);
    let timeout: u64 = env_value(container, "SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS")
        .parse()
        .unwrap();
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > pre_stop + 2 * timeout,
        "terminationGracePeriodSeconds {grace} must exceed the preStop sleep ({pre_stop}) and \
         twice the shutdown timeout ({timeout}: the HTTP drain, then the background loops)"
    );
    let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        rolling["maxUnavailable"], 0,
        "a new pod is ready before an old one goes"
    );
    let pdb = yaml("deploy/kubernetes/base/pdb.yaml");
    assert_eq!(
        pdb["spec"]["selector"], deployment["spec"]["selector"],
        "the PodDisruptionBudget covers the Deployment's pods"
    );
}

#[test]
fn kubernetes_takes_keys_and_connection_strings_from_secrets_and_runs_locked_down() {
    let deployment = deployment();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = container(&deployment);
    for variable in ["DATABASE_URL", "REDIS_URL"] {
        let (_, entry) = env_of(container)
            .into_iter()
            .find(|(n, _)| *n == variable)
            .unwrap();
        assert!(
            entry["valueFrom"]["secretKeyRef"]["name"].is_string(),
            "{variable} comes from a Secret"
        );
    }
    let key_file = env_value(container, "SWITCHBOARD_MASTER_KEY_FILE");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| key_file.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("the master key file is on a mounted volume");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(
        volume["secret"]["secretName"].is_string(),
        "a Secret volume"
    );
    assert!(
        env_of(container)
            .iter()
            .all(|(n, _)| *n != "SWITCHBOARD_MASTER_KEY"),
        "the keyring never sits in the pod spec"
    );

    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let locked = &container["securityContext"];
    assert_eq!(locked["readOnlyRootFilesystem"], true);
    assert_eq!(locked["allowPrivilegeEscalation"], false);
    let data_dir = env_value(container, "SWITCHBOARD_DATA_DIR");
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == data_dir),
        "the data directory is writable (a volume) under a read-only root"
    );
    let requests = &container["resources"]["requests"];
    assert!(requests["memory"].is_string() && requests["cpu"].is_string());
}

#[test]
fn every_kustomization_refers_to_files_that_exist() {
    let root = repository().join("deploy/kubernetes");
    let mut kustomizations = Vec::new();
    for dir in ["base", "overlays/staging", "overlays/production"] {
        kustomizations.push(root.join(dir));
    }
    for dir in kustomizations {
        let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
        let kustomization: Value = serde_norway::from_str(&text).unwrap();
        let mut referred: Vec<&str> = kustomization["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        if let Some(patches) = kustomization["patches"].as_array() {
            referred.extend(patches.iter().map(|p| p["path"].as_str().unwrap()));
        }
        for file in referred {
            assert!(
                dir.join(file).exists(),
                "{}: {file} does not exist",
                dir.display()
            );
        }
        if let Some(images) = kustomization["images"].as_array() {
            let base = deployment();
            let image = container(&base)["image"].as_str().unwrap();
            let name = image.split(':').next().unwrap();
            assert!(
                images.iter().all(|i| i["name"] == name),
                "{}",
                dir.display()
            );
        }
    }
}
