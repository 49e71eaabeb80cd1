//! Optimistic concurrency: versions as strong `ETag`s, `If-Match` as the expected version, and
//! the `If-None-Match` test of the snapshot route.
//!
//! What the precondition headers mean for our integer versions (RFC 9110 §13.1):
//!
//! - `If-Match: "3"`: write only if the resource is at version 3, else 412.
//! - `If-Match: *`: any current version; the same as no header (writes stay possible from a
//!   one-line `curl`).
//! - `If-Match: W/"3"`: a weak tag never matches under the strong comparison that `If-Match`
//!   requires (§13.1.1), so the write answers 412 without being attempted.
//! - `If-Match: "3", "3"` (or several header lines): a list matches if any tag does; since a
//!   write replaces one known state, a list naming two different versions is a 400.
//! - Anything else (`abc`, `"abc"`, `"-1"`, an empty value, `*` inside a list) is malformed:
//!   400 naming the header. The value is never echoed, as it may be anything.
//!
//! `If-None-Match` (weak comparison, §13.1.2) takes `*` or a list of tags, weak or strong, of
//! any opaque text; a malformed one is a 400 too, rather than a silent full download.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::error::ApiError;

/// The `ETag` of a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version `If-Match` expects: `None` without the header (or with `*`); see the module
/// documentation for lists, weak tags and malformed values.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "header.If-Match",
            "must be * or ETags of this API such as \"3\"",
        )
    };
    let mut expected = None;
    match conditions(req.headers(), &header::IF_MATCH).ok_or_else(malformed)? {
        Condition::Absent | Condition::Any => return Ok(None),
        Condition::Tags => {}
    }
    for tag in tags(req.headers(), &header::IF_MATCH) {
        let tag = tag.ok_or_else(malformed)?;
        let version = version(tag.opaque).ok_or_else(malformed)?;
        if tag.weak {
            continue;
        }
        match expected {
            Some(v) if v != version => {
                return Err(ApiError::bad_request(
                    "header.If-Match",
                    "may name one version only: a write replaces one known state",
                ));
            }
            _ => expected = Some(version),
        }
    }
    // Every tag was well formed (else we returned) and there was at least one: all weak.
    expected.map(Some).ok_or_else(|| {
        ApiError::PreconditionFailed(
            "If-Match: a weak ETag (W/\"…\") never matches a write's precondition; send the \
             ETag as the response gave it"
                .to_owned(),
        )
    })
}

/// Whether `If-None-Match` matches `ours` under weak comparison: `*`, or any listed tag whose
/// opaque part equals ours, `W/` or not. Without the header, `false`. Allocation-free: it sits
/// on the snapshot route's 304 path.
pub fn none_match(headers: &HeaderMap, ours: &HeaderValue) -> Result<bool, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "header.If-None-Match",
            "must be * or ETags such as \"abc\" or W/\"abc\"",
        )
    };
    match conditions(headers, &header::IF_NONE_MATCH).ok_or_else(malformed)? {
        Condition::Absent => return Ok(false),
        Condition::Any => return Ok(true),
        Condition::Tags => {}
    }
    let ours = parse_tag(ours.as_bytes()).map(|tag| tag.opaque);
    let mut matched = false;
    for tag in tags(headers, &header::IF_NONE_MATCH) {
        matched |= Some(tag.ok_or_else(malformed)?.opaque) == ours;
    }
    Ok(matched)
}

/// The shape of a precondition header, before its tags are read.
enum Condition {
    Absent,
    /// `*`, alone.
    Any,
    /// A list of entity tags, read with [`tags`].
    Tags,
}

/// `None` when `*` is mixed with tags or a line is not text.
fn conditions(headers: &HeaderMap, name: &HeaderName) -> Option<Condition> {
    let mut lines = headers.get_all(name).peekable();
    if lines.peek().is_none() {
        return Some(Condition::Absent);
    }
    let (mut stars, mut others) = (0, 0);
    for line in lines {
        for item in line.as_bytes().split(|&b| b == b',') {
            match item.trim_ascii() {
                b"" => {}
                b"*" => stars += 1,
                _ => others += 1,
            }
        }
    }
    match (stars, others) {
        (1, 0) => Some(Condition::Any),
        (0, _) => Some(Condition::Tags),
        _ => None,
    }
}

/// One `entity-tag` of RFC 9110 §8.8.3.
#[derive(Debug, PartialEq)]
struct Tag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a [u8],
}

/// Every tag of every line of the header, `None` for one that is malformed. Empty list elements
/// are skipped (RFC 9110 §5.6.1), but a header with no tag at all yields one `None`. Entity
/// tags cannot contain commas, so splitting on them is exact.
fn tags<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = Option<Tag<'a>>> + 'a {
    let mut items = headers
        .get_all(name)
        .flat_map(|line| line.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
        .map(parse_tag)
        .peekable();
    let empty = items.peek().is_none();
    items.chain(empty.then_some(None))
}

/// `W/"…"` or `"…"`, the inside made of `etagc` (`!`, `#`–`~`, and obs-text).
fn parse_tag(item: &[u8]) -> Option<Tag<'_>> {
    let (weak, quoted) = match item.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, item),
    };
    let opaque = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7E).contains(b) || *b >= 0x80;
    opaque.iter().all(etagc).then_some(Tag { weak, opaque })
}

/// The version an opaque tag of ours names: a non-negative decimal in the form [`etag`] writes
/// it (no sign, no leading zeros).
fn version(opaque: &[u8]) -> Option<i64> {
    let canonical = opaque.first().is_some_and(u8::is_ascii_digit)
        && (opaque == b"0" || !opaque.starts_with(b"0"))
        && opaque.iter().all(u8::is_ascii_digit);
    canonical
        .then(|| std::str::from_utf8(opaque).ok()?.parse::<i64>().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use actix_web::test::TestRequest;

    use super::*;

    fn if_match_of(lines: &[&str]) -> Result<Option<i64>, u16> {
        let mut req = TestRequest::default();
        for line in lines {
            req = req.append_header((header::IF_MATCH, *line));
        }
        if_match(&req.to_http_request()).map_err(|e| e.status_code().as_u16())
    }

    fn none_match_of(lines: &[&str], ours: &str) -> Result<bool, u16> {
        let mut req = TestRequest::default();
        for line in lines {
            req = req.append_header((header::IF_NONE_MATCH, *line));
        }
        let ours = HeaderValue::from_str(ours).unwrap();
        none_match(req.to_http_request().headers(), &ours).map_err(|e| e.status_code().as_u16())
    }

    #[test]
    fn if_match_reads_versions_lists_and_star() {
        assert_eq!(if_match_of(&[]), Ok(None));
        assert_eq!(if_match_of(&["*"]), Ok(None));
        assert_eq!(if_match_of(&["\"3\""]), Ok(Some(3)));
        assert_eq!(if_match_of(&[" \"0\" "]), Ok(Some(0)));
        assert_eq!(if_match_of(&["\"3\", \"3\""]), Ok(Some(3)));
        assert_eq!(if_match_of(&["\"3\"", "\"3\""]), Ok(Some(3)));
        assert_eq!(if_match_of(&["W/\"2\", \"3\""]), Ok(Some(3)));
    }

    #[test]
    fn if_match_refuses_weak_tags_several_versions_and_malformed_values() {
        assert_eq!(if_match_of(&["W/\"3\""]), Err(412));
        assert_eq!(if_match_of(&["\"3\", \"4\""]), Err(400));
        for bad in [
            "\"abc\"",
            "abc",
            "3",
            "\"-1\"",
            "\"03\"",
            "\"3",
            "",
            ",",
            "*, \"3\"",
            "\"\"",
            "w/\"3\"",
            "\"99999999999999999999\"",
        ] {
            assert_eq!(if_match_of(&[bad]), Err(400), "{bad:?}");
        }
        assert_eq!(if_match_of(&["*", "*"]), Err(400));
    }

    #[test]
    fn if_none_match_compares_weakly_and_refuses_malformed_values() {
        let ours = "\"r7-abc\"";
        assert_eq!(none_match_of(&[], ours), Ok(false));
        assert_eq!(none_match_of(&["*"], ours), Ok(true));
        assert_eq!(none_match_of(&["\"r7-abc\""], ours), Ok(true));
        assert_eq!(none_match_of(&["W/\"r7-abc\""], ours), Ok(true));
        assert_eq!(none_match_of(&["\"x\", W/\"r7-abc\""], ours), Ok(true));
        assert_eq!(none_match_of(&["\"x\"", "\"r7-abc\""], ours), Ok(true));
        assert_eq!(none_match_of(&["\"r6\""], ours), Ok(false));
        for bad in ["r7-abc", "\"r7-abc", "", "*, \"x\"", "\"a b\""] {
            assert_eq!(none_match_of(&[bad], ours), Err(400), "{bad:?}");
        }
    }
}
