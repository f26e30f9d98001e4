//! Property tests of the stream parsers: any line, in any format, ends, shows
//! nothing that drives a terminal, and keeps the parser's memory bounded.

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

use super::tests::WS;
use super::{AgentEvent, StreamFormat, StreamParser, MAX_LINE_CHARS};

/// Real lines of every backend, from the captures.
const CAPTURES: &[&str] = &[
    include_str!("../../../fixtures/agents/streams/claude-2.1.197-fix-stream.jsonl"),
    include_str!("../../../fixtures/agents/streams/claude-2.1.197-error-streams.jsonl"),
    include_str!("../../../fixtures/agents/streams/codex-0.169.0-fix-stream.jsonl"),
    include_str!("../../../fixtures/agents/streams/cursor-RECONSTRUCTED-partial-stream.jsonl"),
    include_str!("../../../fixtures/agents/streams/gemini-0.61.0-fix-stream.jsonl"),
];

const FORMATS: [StreamFormat; 5] = [
    StreamFormat::ClaudeJson,
    StreamFormat::CursorJson,
    StreamFormat::CodexJson,
    StreamFormat::GeminiJson,
    StreamFormat::PlainText,
];

fn captured_lines() -> Vec<Value> {
    CAPTURES
        .iter()
        .flat_map(|c| c.lines())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Hostile text: escapes, controls, bidi overrides, newlines, long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        Just("\u{1b}]52;c;Zm9v\u{7}\u{1b}[2J\u{202e}".to_string()),
        Just("a\nb\r\nc\n".to_string()),
        (1usize..20_000).prop_map(|n| "x".repeat(n)),
        (1usize..5_000).prop_map(|n| "\u{e9}\n".repeat(n)),
    ]
}

/// Replaces every string in `v` that `pick` selects with `with`.
fn mutate(v: &mut Value, pick: &mut impl FnMut() -> bool, with: &str) {
    match v {
        Value::String(s) if pick() => *s = with.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| mutate(x, pick, with)),
        Value::Object(o) => o.values_mut().for_each(|x| mutate(x, pick, with)),
        _ => {}
    }
}

/// A line as an agent could print it: a real event with strings replaced, a
/// streamed delta, an event of another shape, or anything at all.
fn line() -> impl Strategy<Value = String> {
    let lines = captured_lines();
    let n = lines.len();
    prop_oneof![
        4 => (0..n, text(), any::<u64>()).prop_map(move |(i, t, seed)| {
            let mut v = lines[i].clone();
            let mut bits = seed;
            let mut pick = || {
                bits = bits.rotate_left(7) ^ 0x9e37_79b9;
                bits & 3 == 0
            };
            mutate(&mut v, &mut pick, &t);
            v.to_string()
        }),
        2 => text().prop_map(|t| {
            serde_json::json!({"type": "message", "role": "assistant", "content": t, "delta": true})
                .to_string()
        }),
        2 => text().prop_map(|t| {
            serde_json::json!({"type": "assistant", "message": {"content": [{"type": "text", "text": t}]}})
                .to_string()
        }),
        1 => text().prop_map(|t| {
            serde_json::json!({"type": "tool_call", "subtype": "started", "tool_call": {"x": {"args": t}}})
                .to_string()
        }),
        // Not JSON at all (a line: read_lines has split at the newlines).
        1 => text().prop_map(|t| t.replace('\n', " ")),
    ]
}

fn check(event: &AgentEvent) -> Result<(), TestCaseError> {
    if let Some(shown) = event.display() {
        prop_assert!(
            shown.chars().all(|c| c == '\n' || !c.is_control()),
            "a control character reaches the terminal: {:?}",
            shown
        );
    }
    if let AgentEvent::Text(t) = event {
        prop_assert!(!t.contains('\n'));
        prop_assert!(t.chars().count() <= 4 * MAX_LINE_CHARS);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(128)))]

    #[test]
    fn any_lines_in_any_format_end_safe_and_bounded(
        lines in proptest::collection::vec(line(), 1..60),
        format in proptest::sample::select(FORMATS.to_vec()),
    ) {
        let mut p = StreamParser::new(format, Path::new(WS));
        for l in &lines {
            for event in p.feed_line(l) {
                check(&event)?;
            }
            prop_assert!(p.held_bytes() <= super::MAX_HELD_TEXT * 4, "{} bytes held", p.held_bytes());
        }
        for event in p.finish() {
            check(&event)?;
        }
    }

    /// A stream of deltas that never ends a line cannot grow the parser.
    #[test]
    fn endless_deltas_are_bounded(chunk in "[a-z ]{1000,4000}", format in prop_oneof![
        Just(StreamFormat::GeminiJson), Just(StreamFormat::CursorJson)
    ]) {
        let mut p = StreamParser::new(format, Path::new(WS));
        for i in 0..300 {
            let line = match format {
                StreamFormat::GeminiJson => serde_json::json!({"type": "message", "role": "assistant", "content": chunk, "delta": true}),
                _ => serde_json::json!({"type": "assistant", "message": {"content": [{"type": "text", "text": format!("{i}{chunk}")}]}}),
            };
            p.feed_line(&line.to_string());
        }
        prop_assert!(p.held_bytes() <= super::MAX_HELD_TEXT * 4, "{} bytes held", p.held_bytes());
    }
}
