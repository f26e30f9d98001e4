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
//! A name is secret when one of its words (split at `_`, `-`, `.` and camelCase)
//! says password/secret/token/key/credential/auth/pin/private, and its last word
//! does not say it is something else: `api_key_id`, `token_count`, `max_tokens`,
//! `auth_method`, `password_reset` are not secrets. Strict forms (`=`, quoted
//! names, flags, line-start `name: value`) mask any value that is not a
//! placeholder; loose forms (`name: value` or `name = value` mid-line) mask a
//! value only when it looks like a secret, so that `Invalid token: expired` and
//! `password: too short (minimum is 8)` stay readable.

use std::sync::OnceLock;

use regex::Regex;

use super::Span;

/// Values shorter than this (in bytes) are not masked (see `MAX_GROWTH`).
const MIN_VALUE_LEN: usize = 3;

/// How sure a name is about its value being secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    No,
    /// `key`, `pin`, `session`, `private` alone: only a value that looks like a
    /// secret (high entropy; digits for a PIN) is masked.
    Weak {
        pin: bool,
    },
    Strong,
}

/// Whether an environment variable's name marks its value as secret.
pub(super) fn is_secret_name(name: &str) -> bool {
    classify(name) == Class::Strong
}

/// Words that make a name secret wherever they stand in it.
const STRONG_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "credential",
    "credentials",
    "creds",
    "apikey",
    "auth",
    "authorization",
    "authkey",
    "privatekey",
    "signature",
    "sig",
    "cookie",
    "otp",
];

/// A word that ends with one of these is a secret word (`PGPASSWORD`,
/// `clientsecret`, `authtoken`).
const STRONG_SUFFIXES: &[&str] = &["password", "passwd", "secret", "token", "apikey"];

/// `<qualifier>key` written as one word (`SECRETKEY`, `accountkey`).
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "secret",
    "private",
    "access",
    "auth",
    "master",
    "signing",
    "encryption",
    "account",
    "client",
    "app",
    "license",
    "service",
    "session",
];

/// Qualifiers that make a `key` an ordinary identifier (`cache_key`, `primary key`).
const KEY_NOT_SECRET: &[&str] = &[
    "cache",
    "primary",
    "foreign",
    "public",
    "pub",
    "publishable",
    "partition",
    "sort",
    "object",
    "idempotency",
    "lookup",
    "routing",
    "shard",
    "hash",
    "map",
    "row",
    "group",
    "translation",
    "i18n",
    "dict",
    "unique",
    "composite",
    "natural",
    "range",
    "index",
    "hot",
    "message",
    "dedup",
    "event",
    "order",
    "cursor",
    "config",
    "setting",
    "s3",
    "bucket",
    "react",
    "storage",
];

/// Last words that say the value is about the secret, not the secret itself.
const NOT_SECRET_TAILS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "count",
    "num",
    "number",
    "total",
    "len",
    "length",
    "size",
    "bits",
    "type",
    "kind",
    "name",
    "names",
    "file",
    "filename",
    "path",
    "dir",
    "url",
    "uri",
    "endpoint",
    "host",
    "hostname",
    "port",
    "ip",
    "addr",
    "address",
    "region",
    "version",
    "format",
    "fmt",
    "algorithm",
    "alg",
    "algo",
    "mode",
    "method",
    "scheme",
    "strategy",
    "provider",
    "backend",
    "source",
    "env",
    "var",
    "header",
    "param",
    "prefix",
    "suffix",
    "enabled",
    "disabled",
    "required",
    "set",
    "present",
    "missing",
    "valid",
    "invalid",
    "status",
    "state",
    "scope",
    "scopes",
    "audience",
    "issuer",
    "usage",
    "location",
    "policy",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "exp",
    "lifetime",
    "age",
    "at",
    "time",
    "timeout",
    "date",
    "created",
    "updated",
    "error",
    "errors",
    "exception",
    "reset",
    "hint",
    "label",
    "field",
    "rules",
    "strength",
    "min",
    "max",
    "limit",
    "user",
    "username",
    "login",
    "email",
    "index",
    "idx",
    "memory",
    "fingerprint",
    "pair",
    "stdin",
    "arn",
    "ref",
    "store",
    "manager",
    "level",
    "tag",
    "tags",
    "request",
    "response",
    "mismatch",
    "changed",
    "rotation",
    "check",
    "checked",
    "verified",
    "only",
    "style",
    "color",
    "width",
    "event",
    "events",
    "handler",
    "callback",
    "class",
    "module",
    "label",
    "text",
    "prompt",
    "policy",
];

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

/// Type names in source lines and declarations (`password: str`, `token: string;`).
const TYPE_NAMES: &[&str] = &[
    "str",
    "string",
    "bytes",
    "int",
    "number",
    "bool",
    "boolean",
    "text",
    "secretstr",
    "optional[str]",
    "option<string>",
    "&str",
    "char",
    "varchar",
    "any",
    "object",
];

/// Words of a name: split at non-alphanumerics and camelCase (`apiKey`,
/// `APIKey`, `SECRET_KEY_BASE`), lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let b = part.as_bytes();
        let mut from = 0;
        for i in 1..b.len() {
            let (p, c) = (b[i - 1], b[i]);
            let next_lower = b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if c.is_ascii_uppercase()
                && (p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next_lower))
            {
                out.push(part[from..i].to_ascii_lowercase());
                from = i;
            }
        }
        if from < b.len() {
            out.push(part[from..].to_ascii_lowercase());
        }
    }
    out
}

fn classify(name: &str) -> Class {
    let words = words(name);
    let Some(last) = words.last() else {
        return Class::No;
    };
    if NOT_SECRET_TAILS.contains(&last.as_str()) {
        return Class::No;
    }
    // Plurals name collections or counts (`max_tokens`, `num_keys`).
    if matches!(
        last.as_str(),
        "tokens" | "keys" | "secrets" | "passwords" | "pins" | "sigs" | "cookies"
    ) {
        return Class::No;
    }
    let mut class = Class::No;
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        let strong = STRONG_WORDS.contains(&w)
            || STRONG_SUFFIXES
                .iter()
                .any(|s| w.len() > s.len() && w.ends_with(s))
            || w.strip_suffix("key")
                .is_some_and(|q| KEY_QUALIFIERS.contains(&q));
        if strong {
            return Class::Strong;
        }
        match w {
            "key" => match i.checked_sub(1).map(|p| words[p].as_str()) {
                Some(q) if KEY_NOT_SECRET.contains(&q) => {}
                Some(_) => return Class::Strong,
                None => class = class.max(Class::Weak { pin: false }),
            },
            "pin" => class = class.max(Class::Weak { pin: true }),
            "session" | "sessionid" => class = class.max(Class::Weak { pin: false }),
            _ => {}
        }
    }
    class
}

/// A value that stands for a secret without being one: masks, template
/// variables, empty and boolean values, type names.
pub(super) fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.len() < MIN_VALUE_LEN
        || v.chars().all(|c| "*xX•#.-_?".contains(c))
        || lower.starts_with("[redacted")
        || lower.starts_with("[filtered")
        || lower.starts_with("[hidden")
        || lower.starts_with("[masked")
        || (v.starts_with('<') && v.ends_with('>'))
        || v.starts_with("${")
        || v.starts_with("{{")
        || v.starts_with('%')
        || (v.starts_with('$')
            && v[1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        || matches!(
            lower.as_str(),
            "null"
                | "none"
                | "nil"
                | "undefined"
                | "true"
                | "false"
                | "yes"
                | "off"
                | "enabled"
                | "disabled"
                | "redacted"
                | "filtered"
                | "hidden"
                | "masked"
                | "required"
                | "optional"
                | "missing"
                | "unset"
                | "empty"
                | "n/a"
        )
        || TYPE_NAMES.contains(&lower.as_str())
}

/// Code, not data: `os.environ["X"]`, `getpass()`, `self.password`.
fn is_code(value: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*[(\[]|(?:self|this|cls|settings|config|cfg|conf|os|process|env|request|req|params|options|opts|ctx|app)\.[A-Za-z_]|[a-z_]+(?:\.[a-z_]+)+$)")
            .expect("code pattern compiles")
    });
    re.is_match(value)
}

/// A loose-form value that is probably a secret rather than a word:
/// `hunter2`, `s3cr3t`, `Tr0ub4dor&3`, not `expired` or `required`.
fn looks_secret(value: &str) -> bool {
    let has_digit = value.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = value.bytes().any(|b| b.is_ascii_alphabetic());
    let inner_upper = value.bytes().skip(1).any(|b| b.is_ascii_uppercase())
        && value.bytes().any(|b| b.is_ascii_lowercase());
    let symbol = value
        .bytes()
        .any(|b| b.is_ascii_punctuation() && !b".,:;!?()'\"".contains(&b));
    value.len() >= 6 && ((has_digit && has_alpha) || inner_upper || (symbol && has_alpha))
}

/// A value next to a weak name or without a separator: long and random. Random
/// base64 has upper case, lower case and digits; random hex is a fifth digits or
/// more; a path or a sentence (`projects/shop/secrets/db/versions/3`) is neither.
fn high_entropy(value: &str) -> bool {
    if value.len() < 20 {
        return false;
    }
    let count = |f: fn(&u8) -> bool| value.bytes().filter(f).count();
    let (lower, upper, digits) = (
        count(u8::is_ascii_lowercase),
        count(u8::is_ascii_uppercase),
        count(u8::is_ascii_digit),
    );
    let mixed = lower > 0 && upper > 0 && digits > 0;
    let hex =
        value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') && digits * 5 >= value.len();
    let alnum = digits * 4 >= value.len() && (lower + upper) * 4 >= value.len();
    if !(mixed || hex || alnum) {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.0
}

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
        value_after(text, start, end, flag, class, out);
    }
}

/// The value that belongs to the name at `start..end`, if it is to be masked.
fn value_after(
    text: &str,
    start: usize,
    end: usize,
    flag: bool,
    class: Class,
    out: &mut Vec<Span>,
) {
    let bytes = text.as_bytes();
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let opener = (start > line_start)
        .then(|| bytes[start - 1])
        .filter(u8::is_ascii);
    let before =
        text[line_start..start].trim_end_matches(['"', '\'', '`', '[', '<', ':', '$', '@']);
    let at_line_start = {
        let b = before.trim();
        b.bytes().all(|c| b"-*>< #".contains(&c))
            || matches!(b, "export" | "set" | "ENV" | "declare -x" | "setenv")
    };
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
    let line_end = text[v..].find('\n').map_or(text.len(), |i| v + i);
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
    let mut to = if whole_line {
        v + rest_of_line.len()
    } else {
        token_end(bytes, v)
    };
    let mut from = v;
    // `Authorization: Bearer xyz`: the scheme stays, the credential goes.
    if AUTH_SCHEMES.contains(&text[v..to].to_ascii_lowercase().as_str()) {
        let next = skip_blanks(bytes, to);
        if next == to || next >= bytes.len() || is_terminator(bytes[next]) {
            return;
        }
        from = next;
        to = token_end(bytes, next);
        out.extend(accept(text, from, to, class, true, false));
        return;
    }
    let ends_field = text[to..line_end]
        .trim()
        .trim_start_matches([',', ';', '}', ')', ']'])
        .trim()
        .is_empty();
    out.extend(accept(text, from, to, class, strict, ends_field));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("SECRET_KEY_BASE"), ["secret", "key", "base"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(
            words("spring.datasource.password"),
            ["spring", "datasource", "password"]
        );
        assert_eq!(
            words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
    }

    #[test]
    fn classes_of_names() {
        for strong in [
            "password",
            "DATABASE_PASSWORD",
            "PGPASSWORD",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "SECRET_KEY_BASE",
            "AccountKey",
            "aws_secret_access_key",
            "SecretAccessKey",
            "_authToken",
            "client_secret",
            "Authorization",
            "DB_PASS",
            "sig",
            "Ocp-Apim-Subscription-Key",
            "password_confirmation",
        ] {
            assert_eq!(classify(strong), Class::Strong, "{strong}");
        }
        for no in [
            "api_key_id",
            "token_count",
            "max_tokens",
            "prompt_tokens",
            "auth_method",
            "auth_user",
            "token_type",
            "cache_key",
            "idempotency_key",
            "KeyError",
            "AuthenticationError",
            "password_reset",
            "pin_memory",
            "primary_key",
            "author",
            "keyboard",
            "tokenizer",
            "AWS_ACCESS_KEY_ID",
            "public_key",
            "secret_name",
        ] {
            assert_eq!(classify(no), Class::No, "{no}");
        }
        assert_eq!(classify("key"), Class::Weak { pin: false });
        assert_eq!(classify("PIN"), Class::Weak { pin: true });
    }

    #[test]
    fn entropy_and_secret_looks() {
        assert!(high_entropy("9f8e7d6c5b4a39281706f5e4d3c2b1a0"));
        assert!(high_entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assert!(!high_entropy("aaaaaaaaaaaaaaaaaaaa1"));
        assert!(!high_entropy("connection_refused"));
        assert!(looks_secret("hunter2"));
        assert!(looks_secret("Tr0ub4dor&3"));
        assert!(!looks_secret("expired"));
        assert!(!looks_secret("required"));
    }
}
