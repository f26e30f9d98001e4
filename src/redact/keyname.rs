//! Values under names that say they are secret, in the forms programs print them:
//!
//! | form | printed by |
//! | --- | --- |
//! | `NAME=value`, `export NAME="value"` | `env`, `.env` dumps, logfmt, query strings, `Password=x;` connection strings |
//! | `"name": "value"`, `'name': 'value'` | JSON, Python and JS object reprs |
//! | `name: value`, `Name: value` | YAML, HTTP headers, Rust/Go debug output |
//! | `name = value` | INI, TOML, `~/.aws/credentials`, source lines in tracebacks |
//! | `--name value`, `--name=value` | command lines |
//! | `<name>value</name>`, `[name] => value`, `:name => "value"` | XML, PHP `print_r`, Ruby |
//! | `name <high-entropy value>` | prose: `using token 9f8e...` |
//!
//! Which names count is [`super::names`]' business, which values
//! [`super::values`]'. Strict forms (`NAME=value`, quoted names, flags,
//! `name = value` at the start of a line) mask any value that is not a
//! placeholder; loose forms (`name: value`, `name = value` mid-line) mask a value
//! only when it looks like a secret or ends the line, so that
//! `Password: too short (minimum is 8)` stays readable.

use std::sync::OnceLock;

use regex::Regex;

use super::names::{classify, words, Class};
use super::values::{high_entropy, is_code, is_placeholder, looks_secret};
use super::Span;

/// Authorization schemes: after one, the credential is the next word.
const AUTH_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "ntlm",
    "bot",
    "apikey",
    "sso-key",
    "aws4-hmac-sha256",
    "hmac",
    "dpop",
];

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Ends an unquoted value. A backslash too: values inside a printed string
/// (`'...Bearer x\r\nHost: ...'`) are followed by escapes, not more value.
fn is_terminator(b: u8) -> bool {
    b.is_ascii_whitespace() || b",;&\"'`)}]<>\\".contains(&b)
}

/// Where a value ends: the end of its token.
fn token_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() && !is_terminator(bytes[i]) {
        i += 1;
    }
    i
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    i
}

fn fragments() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)pass|pwd|secret|token|key|cred|auth|pin|sig|cookie|session|otp")
            .expect("fragment pattern compiles")
    })
}

/// Adds a span for each secret value under a secret name in `text`.
pub(super) fn find(text: &str, out: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let mut lines: Option<Lines> = None;
    let mut done = 0; // names before this byte were looked at already
    for m in fragments().find_iter(text) {
        if m.start() < done {
            continue;
        }
        let mut start = m.start();
        while start > 0 && is_name_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = m.end();
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        done = end;
        // Sentence punctuation and flag dashes are not part of the name.
        let flag = text[start..end].starts_with("--");
        while start < end && matches!(bytes[start], b'-' | b'.') {
            start += 1;
        }
        while end > start && matches!(bytes[end - 1], b'-' | b'.') {
            end -= 1;
        }
        if start == end {
            continue;
        }
        let class = classify(&text[start..end]);
        if class == Class::No {
            continue;
        }
        let lines = lines.get_or_insert_with(|| Lines::new(text));
        value_after(text, lines, start, end, flag, class, out);
    }
}

/// Where the lines of a text start and end, found once: a text with one long
/// line and many names costs a lookup per name, not a scan.
struct Lines {
    newlines: Vec<usize>,
    len: usize,
}

impl Lines {
    fn new(text: &str) -> Lines {
        Lines {
            newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
            len: text.len(),
        }
    }

    /// The start and end (its newline, or the end of the text) of the line that
    /// holds byte `at`.
    fn around(&self, at: usize) -> (usize, usize) {
        let i = self.newlines.partition_point(|&nl| nl < at);
        let start = i.checked_sub(1).map_or(0, |p| self.newlines[p] + 1);
        (start, self.newlines.get(i).copied().unwrap_or(self.len))
    }
}

/// Only list markers, quote marks and blanks (`- `, `> `, `# `), or a shell
/// keyword (`export`, `declare -x`), stand between the line's start and a name.
fn starts_line(before: &str) -> bool {
    let b = before.as_bytes();
    let mut i = b.len();
    while i > 0 && b"-*>< #\t".contains(&b[i - 1]) {
        i -= 1;
    }
    let head = &before[..i];
    head.is_empty()
        || ["export", "set", "ENV", "declare -x", "setenv"]
            .iter()
            .any(|k| {
                head.strip_suffix(k)
                    .is_some_and(|pre| pre.bytes().all(|c| c == b' ' || c == b'\t'))
            })
}

/// The value that belongs to the name at `start..end`, if it is to be masked.
fn value_after(
    text: &str,
    lines: &Lines,
    start: usize,
    end: usize,
    flag: bool,
    class: Class,
    out: &mut Vec<Span>,
) {
    let bytes = text.as_bytes();
    let (line_start, line_end) = lines.around(start);
    let opener = (start > line_start)
        .then(|| bytes[start - 1])
        .filter(u8::is_ascii);
    let at_line_start = starts_line(
        text[line_start..start].trim_end_matches(['"', '\'', '`', '[', '<', ':', '$', '@']),
    );
    let mut p = end;
    let mut quoted_name = false;
    match opener {
        Some(q @ (b'"' | b'\'' | b'`')) if bytes.get(p) == Some(&q) => {
            p += 1;
            quoted_name = true;
        }
        Some(b'[') if bytes.get(p) == Some(&b']') => {
            p += 1;
            quoted_name = true;
        }
        Some(b'<') if bytes.get(p) == Some(&b'>') => {
            // <password>value</password>
            let from = p + 1;
            let to = text[from..]
                .find(['<', '\n'])
                .map_or(text.len(), |i| from + i);
            out.extend(accept(text, from, to, class, true, false));
            return;
        }
        // `arn:aws:secretsmanager:...:secret:name`: a segment, not a key.
        Some(b':') if bytes.get(p) == Some(&b':') => return,
        // A path component (`/run/secrets/db_password`), or the user of a URL's
        // `user:password@` (the URL rule masks the password, not the host).
        Some(b'/') => return,
        _ => {}
    }
    let after_name = p;
    p = skip_blanks(bytes, p);
    let blank_before = p > after_name;
    let rest = &text[p..];
    let sep = if rest.starts_with("=>") || rest.starts_with(":=") {
        2
    } else if rest.starts_with("==") || rest.starts_with("::") || rest.starts_with("://") {
        return;
    } else if rest.starts_with('=') || rest.starts_with(':') {
        1
    } else {
        0
    };
    let sep_text = &rest[..sep];
    let v = skip_blanks(bytes, p + sep);
    let blank_after = v > p + sep;
    if v >= bytes.len() || bytes[v] == b'\n' || bytes[v] == b'\r' {
        return;
    }
    if sep == 0 {
        if !blank_before {
            return;
        }
        let to = token_end(bytes, v);
        if flag {
            // --password hunter2 (but not --password-stdin --other)
            if bytes[v] == b'-' {
                return;
            }
            out.extend(accept(text, v, to, class, true, false));
            return;
        }
        // Prose: `using token 9f8e...`: only a value that looks random (a URL
        // after `auth` is a URL; the URL rule finds its password).
        if high_entropy(&text[v..to]) && !text[v..to].contains("://") {
            out.push(Span::plain(v, to));
        }
        return;
    }
    // `name = value` is strict at the start of a line (INI, `~/.aws/credentials`);
    // `name: value` never is (`Password: too short` is a message, not a password).
    let strict = quoted_name
        || flag
        || sep == 2
        || (sep_text == "=" && (!blank_before || at_line_start))
        || (sep_text == ":" && !blank_before && !blank_after);
    // Quoted value: what is inside the quotes (after an auth scheme, if any).
    if let q @ (b'"' | b'\'' | b'`') = bytes[v] {
        let mut from = v + 1;
        let to = closing_quote(bytes, from, q);
        if let Some((scheme, _)) = text[from..to].split_once(' ') {
            if AUTH_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                from = skip_blanks(bytes, from + scheme.len());
            }
        }
        out.extend(accept(text, from, to, class, true, false));
        return;
    }
    if words(&text[start..end])
        .last()
        .is_some_and(|w| w == "cookie")
    {
        cookie_values(text, v, line_end, out);
        return;
    }
    // `.env` lines and PHP's print_r take the rest of the line as the value.
    let rest_of_line = text[v..line_end].trim_end();
    let whole_line =
        (at_line_start && sep_text == "=" && !blank_before && !has_assignment(rest_of_line))
            || (opener == Some(b'[') && sep == 2);
    let to = if whole_line {
        v + rest_of_line.len()
    } else {
        token_end(bytes, v)
    };
    // `Authorization: Bearer xyz`: the scheme stays, the credential goes.
    if AUTH_SCHEMES.contains(&text[v..to].to_ascii_lowercase().as_str()) {
        let next = skip_blanks(bytes, to);
        if next == to || next >= bytes.len() || is_terminator(bytes[next]) {
            return;
        }
        out.extend(accept(
            text,
            next,
            token_end(bytes, next),
            class,
            true,
            false,
        ));
        return;
    }
    // Nothing but closing punctuation after the value on its line.
    let ends_field = text.as_bytes()[to..]
        .iter()
        .position(|b| !b" \t\r,;})]".contains(b))
        .is_none_or(|i| to + i >= line_end);
    out.extend(accept(text, v, to, class, strict, ends_field));
}

/// Cookie attributes: not secret, unlike the cookies' values.
const COOKIE_ATTRIBUTES: &[&str] = &[
    "path",
    "domain",
    "expires",
    "max-age",
    "samesite",
    "secure",
    "httponly",
    "partitioned",
    "priority",
    "version",
    "comment",
];

/// `Cookie: a=1; sessionid=x` and `Set-Cookie: sessionid=x; Path=/`: every
/// cookie's value goes, the attributes stay.
fn cookie_values(text: &str, from: usize, to: usize, out: &mut Vec<Span>) {
    let mut at = from;
    for pair in text[from..to].split(';') {
        let pair_start = at;
        at += pair.len() + 1;
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if COOKIE_ATTRIBUTES.contains(&name.trim().to_ascii_lowercase().as_str()) {
            continue;
        }
        let value_start = pair_start + name.len() + 1;
        let trimmed = value.trim();
        let lead = value.len() - value.trim_start().len();
        if !is_placeholder(trimmed) {
            let s = value_start + lead;
            out.push(Span::plain(s, s + trimmed.len()));
        }
    }
}

/// Another `name=value` in the rest of a line: a logfmt line, not a `.env` one.
fn has_assignment(rest: &str) -> bool {
    rest.split_whitespace()
        .skip(1)
        .any(|w| w.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
}

fn closing_quote(bytes: &[u8], from: usize, q: u8) -> usize {
    let mut i = from;
    while i < bytes.len() && bytes[i] != b'\n' {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == q {
            return i;
        }
        i += 1;
    }
    i.min(bytes.len())
}

/// The span `from..to` if its text is to be masked under a name of `class`.
fn accept(
    text: &str,
    from: usize,
    to: usize,
    class: Class,
    strict: bool,
    ends_field: bool,
) -> Option<Span> {
    let to = to.min(text.len());
    if from >= to || !text.is_char_boundary(from) || !text.is_char_boundary(to) {
        return None;
    }
    let value = &text[from..to];
    if is_placeholder(value) {
        return None;
    }
    let quoted = from > 0 && matches!(text.as_bytes()[from - 1], b'"' | b'\'' | b'`');
    if !quoted && is_code(value) {
        return None;
    }
    let take = match class {
        Class::No => false,
        Class::Weak { pin } => {
            high_entropy(value)
                || (pin
                    && value.len() >= 4
                    && value.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        }
        Class::Strong => strict || quoted || looks_secret(value) || ends_field,
    };
    take.then(|| Span::plain(from, to))
}
