//! A line diff of two small texts (pretty-printed flag states, config values), shown as a
//! unified list of kept, removed and added lines. Longest common subsequence over lines: the
//! texts are a few dozen lines, so the quadratic table costs nothing; past [`MAX_LINES`] the
//! whole texts are shown as replaced instead.

use std::fmt::Write;

use super::html::esc;

const MAX_LINES: usize = 400;

/// One line of a diff.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return a
            .into_iter()
            .map(Line::Removed)
            .chain(b.into_iter().map(Line::Added))
            .collect();
    }
    // common[i][j]: length of the LCS of a[i..] and b[j..].
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if common[i + 1][j] >= common[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().copied().map(Line::Removed));
    out.extend(b[j..].iter().copied().map(Line::Added));
    out
}

/// The diff as escaped HTML: a `<pre>` whose changed lines are marked `<del>`/`<ins>` (read out
/// by screen readers, and prefixed `-`/`+` so it reads without colour too).
pub fn html(old: &str, new: &str) -> String {
    let mut out = String::from(r#"<pre class="diff">"#);
    for line in lines(old, new) {
        let _ = match line {
            Line::Same(text) => writeln!(out, "  {}", esc(text)),
            Line::Removed(text) => writeln!(out, "<del>- {}</del>", esc(text)),
            Line::Added(text) => writeln!(out, "<ins>+ {}</ins>", esc(text)),
        };
    }
    out.push_str("</pre>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_shows_as_removed_then_added() {
        assert_eq!(
            lines("a\nb\nc", "a\nB\nc"),
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("B"),
                Line::Same("c")
            ]
        );
    }

    #[test]
    fn diff_html_is_escaped() {
        assert!(html("<b>", "<i>").contains("&lt;i&gt;"));
    }
}
