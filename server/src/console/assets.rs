//! The console's stylesheet and script, embedded in the binary (`include_str!`): no CDN, no
//! download at run time, no Node.js step at build time. Each is served under a name that
//! carries a hash of its content, so browsers may cache it for a year (`immutable`) and a new
//! build is fetched at once because its pages link the new name.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    content: &'static str,
    content_type: &'static str,
    /// `/ui/assets/console.<12 hex digits of SHA-256>.<ext>`, computed once.
    path: LazyLock<String>,
}

impl Asset {
    /// The URL pages link to.
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn hashed(stem: &str, ext: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/ui/assets/{stem}.{short}.{ext}")
}

const CSS_TEXT: &str = include_str!("assets/console.css");
const JS_TEXT: &str = include_str!("assets/console.js");

pub static CSS: Asset = Asset {
    content: CSS_TEXT,
    content_type: "text/css; charset=utf-8",
    path: LazyLock::new(|| hashed("console", "css", CSS_TEXT)),
};

pub static JS: Asset = Asset {
    content: JS_TEXT,
    content_type: "text/javascript; charset=utf-8",
    path: LazyLock::new(|| hashed("console", "js", JS_TEXT)),
};

/// `GET /ui/assets/{name}`: the embedded file whose hashed name this is; any other name
/// (an old build's) is a 404, so a stale name never gets another build's content.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    match [&CSS, &JS].into_iter().find(|a| a.path() == path) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.content),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such asset"),
    }
}
