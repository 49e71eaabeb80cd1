//! The ceiling of the stack: bare actix-web, one worker, answering the very bodies Switchboard
//! serves, prepared before the first request. Whatever Switchboard spends above this per request
//! (routing, auth, spans, metrics, the handler) is what `bench/versus-edge.sh` reports as its
//! distance to the ceiling.
//!
//! ```text
//! ceiling LISTEN SNAPSHOT GZIP EVALUATE ETAG
//! ```
//!
//! - `GET /v1/sdk/snapshot`: `SNAPSHOT`'s bytes with `ETag: ETAG`; 304 on a matching
//!   `If-None-Match`; `GZIP`'s bytes with `Content-Encoding: gzip` when the request accepts gzip.
//! - `POST /v1/evaluate`: reads the request body, answers `EVALUATE`'s bytes.
//!
//! Not part of the default build; bench only.

use std::io;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// The pre-built answers.
struct Bodies {
    snapshot: Bytes,
    gzip: Bytes,
    evaluate: Bytes,
    etag: HeaderValue,
}

async fn snapshot(req: HttpRequest, bodies: Data<Bodies>) -> HttpResponse {
    let headers = req.headers();
    let etag = &bodies.etag;
    if headers.get(header::IF_NONE_MATCH) == Some(etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.clone()))
            .finish();
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, etag.clone()))
        .content_type("application/json");
    if gzip {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
        response.body(bodies.gzip.clone())
    } else {
        response.body(bodies.snapshot.clone())
    }
}

async fn evaluate(_body: Bytes, bodies: Data<Bodies>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(bodies.evaluate.clone())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, snapshot_file, gzip_file, evaluate_file, etag] = &args[..] else {
        eprintln!("usage: ceiling LISTEN SNAPSHOT GZIP EVALUATE ETAG");
        std::process::exit(2);
    };
    let bodies = Data::new(Bodies {
        snapshot: std::fs::read(snapshot_file)?.into(),
        gzip: std::fs::read(gzip_file)?.into(),
        evaluate: std::fs::read(evaluate_file)?.into(),
        etag: HeaderValue::from_str(etag)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
    });
    let listen = listen.clone();
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(bodies.clone())
                .route("/v1/sdk/snapshot", web::get().to(snapshot))
                .route("/v1/evaluate", web::post().to(evaluate))
        })
        .workers(1)
        .bind(listen)?
        .run()
        .await
    })
}
