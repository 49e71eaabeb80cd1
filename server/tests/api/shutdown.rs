//! Stopping the server stops everything it started: once `run_until_stopped` returns, no
//! background loop is left polling a store that has been closed.

use switchboard_server::settings::Settings;
use switchboard_server::startup::Application;

use crate::helpers::{Backend, TestDatabase, redis_url};
use crate::on_both_backends;

on_both_backends!(stopping_the_server_ends_its_background_tasks_before_closing_the_store);

async fn stopping_the_server_ends_its_background_tasks_before_closing_the_store(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(data_dir.path());
    // Its PostgreSQL schema is dropped with `database`, after the server has stopped.
    let database = TestDatabase::create(&backend, data_dir.path()).await;
    settings.database_url = Some(database.url.clone());
    // With Redis the bus listener runs too (without it, it has nothing to listen to).
    let with_redis = redis_url().is_some();
    settings.redis_url = redis_url();
    let app = Application::build(settings).await.unwrap();
    let running = app.background_tasks();
    let store = app.state().store.clone();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    if with_redis {
        assert_eq!(
            running.count(),
            6,
            "revocations, snapshot poller, bus listener, readiness checks, scheduler, webhook deliveries"
        );
    } else {
        assert!(
            running.count() >= 4,
            "revocations, the snapshot poller, the scheduler and webhook deliveries"
        );
    }

    handle.stop(true).await;
    server.await.unwrap().unwrap();

    assert_eq!(running.count(), 0, "every background task has ended");
    assert!(store.pool().is_closed());
}
