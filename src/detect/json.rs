//! Structured log records: one JSON object per line (pino, Fastify, pino-http,
//! bunyan, winston, structlog, python-json-logger, zap, logrus, slog).
//!
//! A line that starts with `{` is a record and is judged here only, never by the
//! text patterns. A cheap regex on the level comes first; only an error-level
//! record is parsed (`serde_json`). One that carries a stack or exception becomes a
//! strong block: the stack string unescaped into lines and read by the ecosystem it
//! is written in, so its summary and fingerprint are those of the same error printed
//! plainly. A fatal record without a stack is strong too (the seed's `FATAL` rule);
//! an error record without one is a weak signal (remembered for a crash, not
//! reported live). Info and warn records are quiet whatever words they hold.

use super::analyze::{analyze, re, Analysis};
use super::patterns::{self, Eco};
use serde_json::{Map, Value};

/// An error-level record, read.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The ecosystem of the stack (Python, Node, Go, ...); `Json` without one.
    pub eco: Eco,
    /// The stack or traceback, unescaped, one entry per line.
    pub stack: Vec<String>,
    pub analysis: Analysis,
    /// Reported on its own (a stack, or a fatal level).
    pub strong: bool,
}

/// Lines that start with `{` are records, judged by [`judge`] alone.
pub(crate) fn is_record(text: &str) -> bool {
    text.starts_with('{')
}

/// Levels that make a record an error: pino/bunyan 50 and 60, and the words.
/// The pattern starts at the key's name, not its quote: a leading `"` would make
/// the search stop at every quote of every record (most lines are not errors);
/// the quote before the name is checked on the few matches instead, so that
/// `"alert_level"` is not a level.
fn error_level(text: &str) -> Option<&str> {
    let level_re = re!(
        r#"(?-u)(?:level|levelname|severity|log\.level|lvl)"\s*:\s*(?:"((?i:error|err|fatal|critical|crit|panic|dpanic|alert|emerg|emergency))"|([56]0)[\s,}])"#
    );
    let quoted_key = |start: usize| start > 0 && text.as_bytes()[start - 1] == b'"';
    let c = level_re
        .captures_iter(text)
        .find(|c| c.get(0).is_some_and(|m| quoted_key(m.start())))?;
    let level = match (c.get(1), c.get(2)) {
        (Some(word), _) => word.as_str(),
        (None, Some(n)) if n.as_str() == "60" => "fatal",
        _ => "error",
    };
    Some(level)
}

fn is_fatal(level: &str) -> bool {
    !matches!(level.to_ascii_lowercase().as_str(), "error" | "err")
}

/// The record's error, when it is one.
pub(crate) fn judge(text: &str) -> Option<Record> {
    let level = error_level(text)?.to_ascii_lowercase();
    let level = match level.as_str() {
        "err" => "error".to_string(),
        "crit" => "critical".to_string(),
        _ => level,
    };
    let fields = match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(map) => Fields::from_map(&map),
        Err(_) => Fields::from_cut_line(text), // cut at the line limit, or not JSON
    };
    Some(build(&level, fields))
}

/// What a record says, whatever logger wrote it.
#[derive(Debug, Default)]
struct Fields {
    message: Option<String>,
    err_type: Option<String>,
    err_message: Option<String>,
    panic: Option<String>,
    stack: Vec<String>,
}

const STACK_KEYS: &[&str] = &[
    "stack",
    "stacktrace",
    "stack_trace",
    "exc_info",
    "exception",
    "exc_text",
    "traceback",
];

fn string<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
}

fn lines_of(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

impl Fields {
    fn from_map(map: &Map<String, Value>) -> Fields {
        let mut f = Fields {
            message: string(map, &["msg", "message", "event", "@message"]).map(str::to_string),
            panic: map.get("panic").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            ..Fields::default()
        };
        // pino/bunyan `err: {type, message, stack}`, ECS `error: {type, message, stack_trace}`
        for key in ["err", "error"] {
            match map.get(key) {
                Some(Value::Object(err)) => {
                    f.err_type = string(err, &["type", "name", "kind"]).map(str::to_string);
                    f.err_message = string(err, &["message", "msg"]).map(str::to_string);
                    if let Some(s) = string(err, STACK_KEYS) {
                        f.stack = lines_of(s);
                    }
                    break;
                }
                Some(Value::String(s)) => {
                    f.err_message = Some(s.clone());
                    break;
                }
                _ => {}
            }
        }
        if f.stack.is_empty() {
            for key in STACK_KEYS {
                match map.get(*key) {
                    Some(Value::String(s)) if s.contains('\n') || *key != "exception" => {
                        f.stack = lines_of(s);
                    }
                    // structlog's dict_tracebacks: [{exc_type, exc_value, frames}, ...]
                    Some(Value::Array(chain)) => f.stack = python_traceback(chain),
                    _ => continue,
                }
                if !f.stack.is_empty() {
                    break;
                }
            }
        }
        f
    }

    /// A record cut short (the line limit) does not parse: take its message and as
    /// much of its stack string as arrived.
    fn from_cut_line(text: &str) -> Fields {
        let msg_re = re!(r#""(?:msg|message|event)"\s*:\s*"((?:[^"\\]|\\.)*)""#);
        let stack_re = re!(
            r#""(?:stack|stacktrace|stack_trace|exc_info|exception|exc_text|traceback)"\s*:\s*""#
        );
        Fields {
            message: msg_re.captures(text).map(|c| unescape(&c[1])),
            stack: stack_re
                .find(text)
                .map(|m| lines_of(&unescape(&text[m.end()..])))
                .unwrap_or_default(),
            ..Fields::default()
        }
    }
}

/// A JSON string's content up to its closing quote (or the end), unescaped.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b' | 'f') => {}
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let ch = Some(hex)
                        .filter(|h| h.len() == 4)
                        .and_then(|h| u32::from_str_radix(&h, 16).ok())
                        .and_then(char::from_u32);
                    out.push(ch.unwrap_or('\u{fffd}'));
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

/// structlog's exception dicts as the traceback Python itself prints: the chain is
/// listed raised-first, Python prints the cause first.
fn python_traceback(chain: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for exc in chain.iter().rev().filter_map(Value::as_object) {
        out.push("Traceback (most recent call last):".to_string());
        for frame in exc
            .get("frames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            let file = string(frame, &["filename"]).unwrap_or("?");
            let line = frame.get("lineno").and_then(Value::as_u64).unwrap_or(0);
            let name = string(frame, &["name"]).unwrap_or("?");
            out.push(format!("  File \"{file}\", line {line}, in {name}"));
        }
        let kind = string(exc, &["exc_type"]).unwrap_or("Exception");
        match string(exc, &["exc_value"]).filter(|v| !v.is_empty()) {
            Some(value) => out.push(format!("{kind}: {value}")),
            None => out.push(kind.to_string()),
        }
    }
    out
}

fn is_go_stack(stack: &[String]) -> bool {
    let go_frame = re!(r"^\t\S+\.go:\d+");
    stack.iter().any(|l| go_frame.is_match(l))
}

fn build(level: &str, f: Fields) -> Record {
    let joined = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) if a != b => format!("{a}: {b}"),
        (Some(a), _) | (None, Some(a)) => a.to_string(),
        (None, None) => String::new(),
    };
    if f.stack.is_empty() {
        let analysis = Analysis {
            kind: level.to_string(),
            message: joined(f.message.as_deref(), f.err_message.as_deref()),
            ..Analysis::default()
        };
        return Record {
            eco: Eco::Json,
            stack: Vec::new(),
            analysis,
            strong: is_fatal(level),
        };
    }
    if is_go_stack(&f.stack) {
        let panicked = f.panic.is_some()
            || f.stack
                .iter()
                .any(|l| l == "runtime.gopanic" || l.starts_with("panic("));
        let what = f
            .panic
            .as_deref()
            .or(f.err_message.as_deref())
            .or(f.message.as_deref())
            .unwrap_or("");
        // Read as Go prints it: `panic: VALUE`, then the frames.
        let mut lines: Vec<&str> = Vec::with_capacity(f.stack.len() + 1);
        let head = format!("panic: {what}");
        if panicked {
            lines.push(&head);
        }
        lines.extend(f.stack.iter().map(String::as_str));
        let mut analysis = analyze(Eco::Go, &lines);
        if !panicked {
            analysis.kind = level.to_string();
            analysis.message = joined(f.message.as_deref(), f.err_message.as_deref());
        }
        return Record {
            eco: Eco::Go,
            stack: f.stack,
            analysis,
            strong: true,
        };
    }
    let lines: Vec<&str> = f.stack.iter().map(String::as_str).collect();
    let mut eco = lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| patterns::classify_start(l))
        .map_or(Eco::Generic, |s| s.eco);
    for l in &lines {
        eco = patterns::refine_eco(eco, l);
    }
    let mut analysis = analyze(eco, &lines);
    let first = lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim());
    if analysis.kind.is_empty() || Some(analysis.kind.as_str()) == first {
        // The stack did not say what was thrown: the record's fields do.
        analysis.kind = f.err_type.unwrap_or_else(|| level.to_string());
        analysis.message = f.err_message.or(f.message).unwrap_or_default();
    }
    Record {
        eco,
        stack: f.stack,
        analysis,
        strong: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_warn_records_are_quiet() {
        for l in [
            r#"{"level":30,"msg":"request completed","err":null,"errors":[]}"#,
            r#"{"level":"warn","message":"retrying after transient error","stack":"node"}"#,
            r#"{"levelname": "INFO", "message": "x", "exc_info": "Traceback (most recent call last):"}"#,
            // Keys that only end like a level key.
            r#"{"level":"info","alert_level":"critical","stack":"Error: x\n    at f (a.js:1:1)"}"#,
            r#"{"loglevel":"error","level":30,"stack":"Error: x\n    at f (a.js:1:1)"}"#,
        ] {
            assert!(judge(l).is_none(), "{l}");
        }
    }

    #[test]
    fn pino_error_reads_like_the_plain_error() {
        let r = judge(r#"{"level":50,"err":{"type":"TypeError","message":"boom","stack":"TypeError: boom\n    at priceOf (/app/cart.js:6:21)\n    at main (/app/cart.js:11:3)"},"msg":"pricing failed"}"#)
            .expect("an error record");
        assert_eq!(r.eco, Eco::Node);
        assert_eq!(r.analysis.kind, "TypeError");
        assert_eq!(r.analysis.func.as_deref(), Some("priceOf"));
        assert_eq!(r.stack.len(), 3);
        assert!(r.strong);
    }

    #[test]
    fn records_without_a_stack_are_weak_unless_fatal() {
        let r = judge(r#"{"error":"context canceled","level":"error","msg":"client went away"}"#)
            .expect("an error record");
        assert!(!r.strong);
        assert_eq!(r.analysis.message, "client went away: context canceled");
        let r = judge(r#"{"error":"open config.yaml: no such file","level":"fatal","msg":"cannot load config"}"#)
            .expect("a fatal record");
        assert!(r.strong);
        assert_eq!(r.analysis.kind, "fatal");
    }

    #[test]
    fn a_cut_record_still_yields_its_stack() {
        let line = r#"{"level":"error","message":"failed","stack":"Error: boom\n    at run (/app/a.js:1:2)\n    at x (/app/a.js:9"#;
        let r = judge(line).expect("an error record");
        assert_eq!(r.analysis.kind, "Error");
        assert_eq!(r.analysis.file.as_deref(), Some("/app/a.js"));
        assert_eq!(unescape(r#"a"b"#), "a");
        assert_eq!(unescape(r#"a\"b"#), "a\"b");
        assert_eq!(unescape(r#"b\\c\u00e9\n\u12"#), "b\\cé\n\u{fffd}");
    }
}
