//! The console's speed figures (BENCHMARKS.md): the flags page of an environment with 200
//! flags, its time and its compressed size, and a toggle's round trip. The size is held to
//! the issue's bound (≤ 60 kB gzip); times are printed, not asserted, on a shared machine
//! (the bound checked is a loose one that only a regression of an order of magnitude breaks).

use std::time::{Duration, Instant};

use reqwest::header;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::{FormBody, csrf_of};
use crate::helpers::{Backend, spawn_app};

crate::on_both_backends!(the_flags_page_of_200_flags_is_small_and_quick);

const FLAGS: &str = "/ui/projects/shop/environments/production/flags";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn the_flags_page_of_200_flags_is_small_and_quick(backend: Backend) {
    let label = if matches!(backend, Backend::Sqlite) {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    for i in 0..200 {
        app.call(
            Method::POST,
            "/v1/projects/shop/flags",
            Some(json!({
                "key": format!("flag-{i:03}"),
                "type": "boolean",
                "description": format!("Flag number {i} of the checkout team"),
            })),
        )
        .await;
        if i % 3 == 0 {
            let path =
                format!("/v1/projects/shop/environments/production/flags/flag-{i:03}/rollout");
            app.call(Method::POST, &path, Some(json!({ "percentage": i % 100 })))
                .await;
        }
    }
    let sign_in = app
        .client
        .post(app.url("/ui/sign-in"))
        .body_form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = sign_in.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = |gzip: bool| {
        let mut request = app
            .client
            .get(app.url(FLAGS))
            .header(header::COOKIE, &cookie);
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        request.send()
    };
    let plain = page(false).await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    let html = plain.text().await.unwrap();
    let csrf = csrf_of(&html);
    assert_eq!(html.matches(r#"<tr id="flag-"#).count(), 200);
    let compressed = page(true).await.unwrap();
    assert_eq!(compressed.headers()[header::CONTENT_ENCODING], "gzip");
    let gzip_bytes = compressed.bytes().await.unwrap().len();

    let mut times = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let response = page(true).await.unwrap();
        let _ = response.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    let page_time = median(times);

    let mut toggles = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let response = app
            .client
            .post(app.url(&format!("{FLAGS}/flag-001/toggle")))
            .header(header::COOKIE, &cookie)
            .body_form(&[
                ("_csrf", csrf.as_str()),
                ("enabled", if i % 2 == 0 { "true" } else { "false" }),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        // The round trip as the browser makes it: the action, then the page it lands on.
        let _ = page(true).await.unwrap().bytes().await.unwrap();
        toggles.push(started.elapsed());
    }
    let toggle_time = median(toggles);
    println!(
        "console figures ({label}): flags page of 200 flags {} bytes, {gzip_bytes} bytes gzip, \
         median {:.2} ms over loopback; toggle + page median {:.2} ms",
        html.len(),
        page_time.as_secs_f64() * 1000.0,
        toggle_time.as_secs_f64() * 1000.0,
    );
    assert!(gzip_bytes <= 60_000, "{gzip_bytes} bytes gzip");
    assert!(html.len() <= 400_000, "{} bytes", html.len());
    assert!(page_time < Duration::from_millis(500), "{page_time:?}");
}
