//! HTML without a template engine: every value a page shows goes through [`esc`], and pages
//! are assembled from [`Page`] with `write!`. Escaping is the only defence against markup
//! injection here (a flag description is user input), so the rule is simple: literal markup
//! in `format!` strings, every interpolated value wrapped in `esc(...)` or produced by a
//! function of this module that escapes it.

use std::fmt::{self, Display, Write};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;

use super::assets;

/// A value escaped for HTML text and double-quoted attribute values.
pub struct Esc<'a>(pub &'a str);

/// Escapes `text` for an HTML text node or a double-quoted attribute.
pub fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(index) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..index])?;
            f.write_str(match rest.as_bytes()[index] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[index + 1..];
        }
        f.write_str(rest)
    }
}

/// A path segment for an `href`/`action`: percent-encoded, then escaped. Names are slugs
/// today, but a link must stay a link whatever a name holds.
pub struct Seg<'a>(pub &'a str);

impl Display for Seg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                f.write_char(char::from(byte))?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// The page being written, and what its shell needs.
pub struct Page {
    pub title: String,
    /// The session's CSRF token, for the sign-out form and the script (`None` when signed out).
    pub csrf: Option<String>,
    /// Who is signed in, for the header.
    pub who: Option<String>,
    pub body: String,
}

impl Page {
    pub fn new(title: impl Into<String>, csrf: Option<&str>, who: Option<&str>) -> Self {
        Self {
            title: title.into(),
            csrf: csrf.map(str::to_owned),
            who: who.map(str::to_owned),
            body: String::with_capacity(16 * 1024),
        }
    }

    /// Appends formatted markup (`page.push(format_args!(...))`).
    pub fn push(&mut self, markup: fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.body.write_fmt(markup);
    }

    /// A hidden CSRF field for a state-changing form.
    pub fn csrf_field(&self) -> String {
        format!(
            r#"<input type="hidden" name="_csrf" value="{}">"#,
            esc(self.csrf.as_deref().unwrap_or(""))
        )
    }

    pub fn render(self, status: StatusCode) -> HttpResponse {
        let mut html = String::with_capacity(self.body.len() + 2048);
        let _ = write!(
            html,
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title} · Switchboard</title><link rel="stylesheet" href="{css}"><script src="{js}" defer></script>"#,
            title = esc(&self.title),
            css = assets::CSS.path(),
            js = assets::JS.path(),
        );
        if let Some(csrf) = &self.csrf {
            let _ = write!(html, r#"<meta name="csrf-token" content="{}">"#, esc(csrf));
        }
        html.push_str(
            r#"</head><body><header class="top"><a class="brand" href="/ui">Switchboard</a>"#,
        );
        if let Some(who) = &self.who {
            let _ = write!(
                html,
                r#"<nav><a href="/ui">Projects</a><a href="/ui/audit">Audit</a><a href="/ui/tokens">Tokens</a></nav><form method="post" action="/ui/sign-out" class="signout"><input type="hidden" name="_csrf" value="{csrf}"><span class="who">{who}</span><button type="submit">Sign out</button></form>"#,
                csrf = esc(self.csrf.as_deref().unwrap_or("")),
                who = esc(who),
            );
        }
        let _ = write!(
            html,
            r#"</header><main id="main"><h1>{}</h1>{}</main></body></html>"#,
            esc(&self.title),
            self.body
        );
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html)
    }
}

/// A field's message, shown next to it, when the failed request named that field.
pub fn field_error(problem: Option<&super::Problem>, form: &str, field: &str) -> String {
    match problem.and_then(|p| p.message_for(form, field)) {
        Some(message) => format!(
            r#"<span class="field-error" role="alert">{}</span>"#,
            esc(message)
        ),
        None => String::new(),
    }
}

/// The general message of a failed request, shown above its form.
pub fn form_problem(problem: Option<&super::Problem>, form: &str) -> String {
    match problem.filter(|p| p.form == form) {
        Some(p) => format!(r#"<p class="problem" role="alert">{}</p>"#, esc(&p.detail)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(Seg("a b/\"c").to_string(), "a%20b%2F%22c");
        assert_eq!(Seg("checkout-v2").to_string(), "checkout-v2");
    }
}
