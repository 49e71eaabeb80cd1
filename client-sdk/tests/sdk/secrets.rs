//! Fetching secrets through the client: explicit, scoped, audited, never cached or persisted.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchboard_client::{Client, SecretsError};

use crate::helpers::{TestServer, client, shop};

const PASSWORD: &str = "pa$$ 'wörd'\n-canary-7f3a";

async fn with_secrets() -> (TestServer, String, String) {
    let (server, sdk_token) = shop().await;
    let secrets = "/v1/projects/shop/environments/production/secrets";
    server
        .call(
            Method::PUT,
            &format!("{secrets}/DB_PASSWORD"),
            Some(json!({ "value": PASSWORD })),
        )
        .await;
    server
        .call(
            Method::PUT,
            &format!("{secrets}/API_KEY"),
            Some(json!({ "value": "k-123" })),
        )
        .await;
    let body = json!({"name": "app-secrets", "scopes": ["secrets:read"], "projects": ["shop"],
                      "environments": ["production"]});
    let issued = server.post("/v1/tokens", body).await;
    let secrets_token = issued["token"].as_str().unwrap().to_owned();
    (server, sdk_token, secrets_token)
}

#[tokio::test]
async fn secrets_are_fetched_on_request_and_each_fetch_is_audited() {
    let (server, sdk_token, secrets_token) = with_secrets().await;
    let dir = tempfile::tempdir().unwrap();
    let persisted = dir.path().join("snapshot.json");
    let client = client(&server, &sdk_token)
        .secrets_token(&secrets_token)
        .persist_to(&persisted)
        .build()
        .unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    let all = client.fetch_secrets().await.unwrap();
    assert_eq!(all.names().collect::<Vec<_>>(), ["API_KEY", "DB_PASSWORD"]);
    assert_eq!(all.get("DB_PASSWORD").unwrap().expose(), PASSWORD);
    assert!(!format!("{all:?}").contains("canary"));
    let one = client.fetch_secret("API_KEY").await.unwrap();
    assert_eq!(one.expose(), "k-123");

    let audit = server
        .call(Method::GET, "/v1/audit?project=shop", None)
        .await;
    let reads: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["name"] == "app-secrets")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        reads.contains(&"secret.export") && reads.contains(&"secret.read"),
        "both fetches are in the audit log: {reads:?}"
    );
    let saved = std::fs::read_to_string(&persisted).unwrap();
    assert!(
        !saved.contains("canary") && !saved.contains("k-123"),
        "no secret is persisted with the snapshot"
    );
}

#[tokio::test]
async fn a_token_without_secrets_read_is_refused_clearly() {
    let (server, sdk_token, _) = with_secrets().await;
    let client = client(&server, &sdk_token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    let refused = client.fetch_secrets().await.unwrap_err();
    assert!(
        matches!(refused, SecretsError::Unauthorized { status: 403, .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("secrets:read"), "{refused}");
}

#[tokio::test]
async fn an_unknown_secret_or_an_offline_client_says_so() {
    let (server, sdk_token, secrets_token) = with_secrets().await;
    let client = client(&server, &sdk_token)
        .secrets_token(&secrets_token)
        // Named on the builder: no need to wait for a snapshot to know where to read.
        .project("shop")
        .environment("production")
        .build()
        .unwrap();
    assert!(matches!(
        client.fetch_secret("NO_SUCH_SECRET").await.unwrap_err(),
        SecretsError::NotFound(_)
    ));

    let offline = Client::builder(&server.address, &secrets_token)
        .offline()
        .build()
        .unwrap();
    assert_eq!(
        offline.fetch_secrets().await.unwrap_err(),
        SecretsError::Offline
    );
}
