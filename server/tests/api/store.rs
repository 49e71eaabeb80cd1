//! The storage layer on its own, against each backend: what the API tests cannot see.

use std::time::Duration;

use serde_json::json;
use switchboard_server::domain::Slug;
use switchboard_server::keys::Keyring;
use switchboard_server::store::audit::{self, Actor, Change, Filter};
use switchboard_server::store::{Store, StoreError, projects, signing_keys};

use crate::helpers::{Backend, TestDatabase};

crate::on_both_backends!(
    migrations_can_run_again_without_changing_anything,
    instances_racing_on_an_empty_store_share_one_signing_key,
    an_audit_event_rolls_back_with_its_transaction,
    a_duplicate_name_is_a_conflict_and_a_missing_one_not_found,
);

/// A migrated store, and what must outlive it: its database and the directory holding it.
async fn open(backend: &Backend) -> (Store, (TestDatabase, tempfile::TempDir)) {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend, dir.path()).await;
    let store = Store::connect_url(&database.url, 4, Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, (database, dir))
}

fn keyring() -> Keyring {
    Keyring::parse("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap()
}

async fn migrations_can_run_again_without_changing_anything(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    projects::create(
        &store,
        &Actor::host("test"),
        &Slug::parse("shop").unwrap(),
        "",
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(projects::get(&store, "shop").await.unwrap().name, "shop");
}

async fn instances_racing_on_an_empty_store_share_one_signing_key(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let ring = keyring();
    let (a, b) = tokio::join!(
        signing_keys::load_or_create(&store, &ring),
        signing_keys::load_or_create(&store, &ring)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 1);
    assert_eq!(*a[0].secret, *b[0].secret);

    // The key is stored wrapped: another keyring cannot open it.
    let other = Keyring::parse("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
    let error = signing_keys::load_or_create(&store, &other)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cannot be decrypted"), "{error}");
}

async fn an_audit_event_rolls_back_with_its_transaction(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let mut tx = store.begin_write().await.unwrap();
    audit::append(
        &mut tx,
        &Actor::host("test"),
        Change {
            action: "test.rolled-back",
            project: Some("shop"),
            environment: None,
            target: "nothing".into(),
            before: None,
            after: Some(json!({ "x": 1 })),
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let filter = Filter {
        limit: 10,
        ..Filter::default()
    };
    assert!(audit::list(&store, &filter).await.unwrap().is_empty());
}

async fn a_duplicate_name_is_a_conflict_and_a_missing_one_not_found(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let actor = Actor::host("test");
    let shop = Slug::parse("shop").unwrap();
    projects::create(&store, &actor, &shop, "").await.unwrap();
    assert!(matches!(
        projects::create(&store, &actor, &shop, "").await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        projects::get(&store, "blog").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        projects::update(&store, &actor, "blog", Some("x")).await,
        Err(StoreError::NotFound)
    ));
    let filter = Filter {
        limit: 10,
        ..Filter::default()
    };
    assert_eq!(
        audit::list(&store, &filter).await.unwrap().len(),
        1,
        "only the successful create is audited"
    );
}
