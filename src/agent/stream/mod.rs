//! Turning an agent CLI's stdout into [`AgentEvent`]s and human lines.
//!
//! Each backend prints NDJSON in its own shape (see `research.md` section C and
//! the captures in `fixtures/agents/streams/`). The parser is fed one line at a
//! time and keeps only what it needs to join text: Gemini sends assistant text
//! as `delta` chunks, and Cursor's `--stream-partial-output` repeats text in
//! overlapping forms (deltas, cumulative snapshots, the whole message again).
//! Unknown event types are skipped; a line that is not JSON is shown as text.
//!
//! Everything that can reach the terminal is passed through [`sanitize`]: the
//! overlay must never emit an agent's control sequences.
//!
//! This module holds what every format shares: the event type, the dispatch in
//! [`StreamParser::feed_line`], text joining, sanitizing and path display. Each
//! backend's event shapes live in their own file, beside the tests that replay
//! its captures: `claude.rs`, `cursor.rs`, `codex.rs`, `gemini.rs`.

mod claude;
mod codex;
mod cursor;
mod gemini;
#[cfg(test)]
mod properties;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Longest text shown for one non-JSON line or one tool detail, in characters.
pub const MAX_LINE_CHARS: usize = 500;

/// The output format of an agent run, chosen by the backend table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    ClaudeJson,
    CursorJson,
    CodexJson,
    GeminiJson,
    PlainText,
}

/// One thing the agent did, as the overlay shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// One line of the assistant's text (never contains a newline).
    Text(String),
    /// A tool call: a verb (`Read`, `Edit`, `Run`, `Search`, ...) and its
    /// argument as shown; for a tool on a file, `path` is the file as the agent
    /// named it (relative to the workspace, where the agent runs, or absolute),
    /// uncut and unsanitized: a path to resolve, never to print.
    Tool {
        name: String,
        detail: String,
        path: Option<PathBuf>,
    },
    /// A tool call that failed, with the first line of its error.
    ToolFailed(String),
    /// Files the agent reports having changed: as shown, and as it named them
    /// (see `Tool::path`).
    FilesChanged {
        shown: Vec<String>,
        paths: Vec<PathBuf>,
    },
    /// The agent's own verdict on its run.
    Result {
        ok: bool,
        detail: Option<String>,
        duration_ms: Option<u64>,
    },
    /// Something worth showing that is not the agent's work (API retries, warnings).
    Notice(String),
}

impl AgentEvent {
    /// The line to show for this event, sanitized; `None` when there is nothing to show.
    pub fn display(&self) -> Option<String> {
        let line = match self {
            AgentEvent::Text(t) => t.clone(),
            AgentEvent::Tool { name, detail, .. } if detail.is_empty() => name.clone(),
            AgentEvent::Tool { name, detail, .. } => format!("{name} {detail}"),
            AgentEvent::ToolFailed(msg) => format!("  failed: {msg}"),
            AgentEvent::FilesChanged { shown, .. } if shown.is_empty() => return None,
            AgentEvent::FilesChanged { shown, .. } => format!("Changed {}", shown.join(", ")),
            AgentEvent::Result {
                ok,
                detail,
                duration_ms,
            } => {
                let took = duration_ms
                    .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                let head = if *ok {
                    "Agent finished"
                } else {
                    "Agent failed"
                };
                match detail {
                    Some(d) => format!("{head}{took}: {d}"),
                    None => format!("{head}{took}"),
                }
            }
            AgentEvent::Notice(n) => n.clone(),
        };
        let line = sanitize(&line);
        if line.trim().is_empty() {
            None
        } else {
            Some(line)
        }
    }
}

use crate::text::ellipsize as cut;
pub use crate::text::sanitize;

/// First non-empty line of `s`, sanitized and cut: the form used for tool
/// arguments and error messages.
fn one_line(s: &str) -> String {
    let first = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    cut(&sanitize(first), MAX_LINE_CHARS)
}

/// Most streamed text kept while waiting for the end of a line (and, for
/// Cursor, to recognise repeats): far more than a line shows, bounded whatever
/// the agent streams.
const MAX_HELD_TEXT: usize = 64 * 1024;

/// Joins streamed text chunks into whole lines.
#[derive(Debug, Default)]
struct TextLines {
    pending: String,
}

impl TextLines {
    /// Adds a chunk; returns the lines it completed. A line is shown cut (see
    /// [`emit_text_line`]), so what is past [`MAX_HELD_TEXT`] is not kept.
    fn push(&mut self, chunk: &str, out: &mut Vec<AgentEvent>) {
        let mut rest = chunk;
        while let Some(i) = rest.find('\n') {
            self.append(&rest[..i]);
            let line = std::mem::take(&mut self.pending);
            emit_text_line(&line, out);
            rest = &rest[i + 1..];
        }
        self.append(rest);
    }

    fn append(&mut self, text: &str) {
        let room = MAX_HELD_TEXT.saturating_sub(self.pending.len());
        self.pending.push_str(crate::text::clip(text, room));
    }

    /// Emits what is pending as a line (at a tool call, the result, or the end).
    fn flush(&mut self, out: &mut Vec<AgentEvent>) {
        let rest = std::mem::take(&mut self.pending);
        emit_text_line(&rest, out);
    }
}

fn emit_text_line(line: &str, out: &mut Vec<AgentEvent>) {
    let clean = sanitize(line.trim_end_matches(['\n', '\r']));
    let clean = clean.trim_end();
    if !clean.trim().is_empty() {
        out.push(AgentEvent::Text(cut(clean, 4 * MAX_LINE_CHARS)));
    }
}

/// Pushes one `Text` event per non-empty line of a complete message.
fn push_message(text: &str, out: &mut Vec<AgentEvent>) {
    for line in text.lines() {
        emit_text_line(line, out);
    }
}

/// Parses one agent run's stdout. Create one per run.
#[derive(Debug)]
pub struct StreamParser {
    format: StreamFormat,
    /// The workspace as given and canonicalized: paths under either are shown relative.
    roots: Vec<PathBuf>,
    text: TextLines,
    /// Cursor: what was already shown, so repeated partial output is dropped.
    cursor: cursor::CursorText,
    result_ok: Option<bool>,
}

impl StreamParser {
    pub fn new(format: StreamFormat, workspace: &Path) -> Self {
        let mut roots = vec![workspace.to_path_buf()];
        if let Ok(canon) = workspace.canonicalize() {
            if canon != workspace {
                roots.push(canon);
            }
        }
        StreamParser {
            format,
            roots,
            text: TextLines::default(),
            cursor: cursor::CursorText::default(),
            result_ok: None,
        }
    }

    /// The `ok` of the last `Result` event seen, if any. Cursor and Codex may
    /// end without one when they fail.
    pub fn result_ok(&self) -> Option<bool> {
        self.result_ok
    }

    /// Parses one line of stdout (without its newline).
    pub fn feed_line(&mut self, line: &str) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        let line = line.trim_end_matches(['\n', '\r']);
        if self.format == StreamFormat::PlainText {
            emit_text_line(&cut(line, 4 * MAX_LINE_CHARS), &mut out);
            return out;
        }
        if line.trim().is_empty() {
            return out;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                self.text.flush(&mut out);
                let shown = cut(&sanitize(line.trim()), MAX_LINE_CHARS);
                if !shown.trim().is_empty() {
                    out.push(AgentEvent::Text(shown));
                }
                return out;
            }
        };
        match self.format {
            StreamFormat::ClaudeJson => self.claude(&value, &mut out),
            StreamFormat::CursorJson => self.cursor(&value, &mut out),
            StreamFormat::CodexJson => self.codex(&value, &mut out),
            StreamFormat::GeminiJson => self.gemini(&value, &mut out),
            StreamFormat::PlainText => {}
        }
        if let Some(AgentEvent::Result { ok, .. }) = out.last() {
            self.result_ok = Some(*ok);
        }
        out
    }

    /// Bytes of text the parser holds between lines (bounded).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.text.pending.len() + self.cursor.held_bytes()
    }

    /// Call at the end of stdout: emits any text still waiting for a newline.
    pub fn finish(&mut self) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        self.text.flush(&mut out);
        out
    }

    /// A path as shown to the user: relative when under the workspace.
    fn rel(&self, path: &str) -> String {
        let p = Path::new(path);
        for root in &self.roots {
            if let Ok(r) = p.strip_prefix(root) {
                let s = r.to_string_lossy();
                return if s.is_empty() {
                    ".".into()
                } else {
                    one_line(&s)
                };
            }
        }
        one_line(path)
    }

    fn tool(&self, name: &str, detail: String, out: &mut Vec<AgentEvent>) {
        out.push(AgentEvent::Tool {
            name: name.to_string(),
            detail,
            path: None,
        });
    }

    /// A tool call on the file `path` (as the agent named it): shown relative
    /// to the workspace, and carried as a path.
    fn file_tool(&self, name: &str, path: &str, out: &mut Vec<AgentEvent>) {
        out.push(AgentEvent::Tool {
            name: name.to_string(),
            detail: self.rel(path),
            path: (!path.is_empty()).then(|| PathBuf::from(path)),
        });
    }
}

/// The string at `key`, or "" when absent or not a string.
fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The array at a nested path, or an empty slice.
fn array_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return &[],
        }
    }
    cur.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A search pattern or query as shown: one line, in double quotes.
fn quoted(s: &str) -> String {
    format!("\"{}\"", one_line(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace the captures in `fixtures/agents/streams/` were made in.
    pub(super) const WS: &str = "/home/dev/shop";

    /// Feeds a whole stream to a fresh parser: every event, and the lines shown.
    /// Shared with the per-backend tests.
    pub(super) fn run(format: StreamFormat, stream: &str) -> (Vec<AgentEvent>, Vec<String>) {
        let mut p = StreamParser::new(format, Path::new(WS));
        let mut events = Vec::new();
        for line in stream.lines() {
            events.extend(p.feed_line(line));
        }
        events.extend(p.finish());
        let shown = events.iter().filter_map(AgentEvent::display).collect();
        (events, shown)
    }

    #[test]
    fn non_json_lines_are_text_cut_at_500() {
        let mut p = StreamParser::new(StreamFormat::CodexJson, Path::new(WS));
        assert_eq!(
            p.feed_line("Reading additional input from stdin..."),
            [AgentEvent::Text(
                "Reading additional input from stdin...".into()
            )]
        );
        assert!(p.feed_line("").is_empty());
        let long = "x".repeat(2000);
        let ev = p.feed_line(&long);
        let AgentEvent::Text(t) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(t.chars().count(), MAX_LINE_CHARS);
        assert!(t.ends_with('…'));
        // A JSON value that is not an object is not an event either.
        assert_eq!(p.feed_line("42"), [AgentEvent::Text("42".into())]);
    }

    #[test]
    fn plain_text_lines() {
        let (_, shown) = run(StreamFormat::PlainText, "Fixed it.\n\n\x1b[31mred\x1b[0m\n");
        assert_eq!(shown, ["Fixed it.", "red"]);
    }

    #[test]
    fn control_sequences_are_stripped() {
        let mut p = StreamParser::new(StreamFormat::ClaudeJson, Path::new(WS));
        let ev = p.feed_line(r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi\u001b[2Jthere\u001b]52;c;Zm9v\u0007"}]}}"#);
        assert_eq!(ev, [AgentEvent::Text("hithere".into())]);
        let ev = AgentEvent::Notice("x\x1b[31my".into());
        assert_eq!(ev.display().as_deref(), Some("xy"));
    }

    #[test]
    fn paths_outside_workspace_stay_absolute() {
        let mut p = StreamParser::new(StreamFormat::ClaudeJson, Path::new(WS));
        let ev = p.feed_line(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Read","input":{"file_path":"/etc/passwd"}},{"type":"tool_use","name":"Write","input":{"file_path":"/home/dev/shop-other/x"}}]}}"#);
        assert_eq!(ev[0].display().as_deref(), Some("Read /etc/passwd"));
        assert_eq!(
            ev[1].display().as_deref(),
            Some("Write /home/dev/shop-other/x")
        );
    }

    #[test]
    fn file_tools_carry_the_path_as_named_uncut() {
        let long = format!("{WS}/{}/app.py", "d".repeat(900));
        let mut p = StreamParser::new(StreamFormat::ClaudeJson, Path::new(WS));
        let line = format!(
            r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","name":"Edit","input":{{"file_path":"{long}"}}}},{{"type":"tool_use","name":"Write","input":{{"file_path":"./src/../x.py"}}}},{{"type":"tool_use","name":"Grep","input":{{"pattern":"x"}}}}]}}}}"#
        );
        let ev = p.feed_line(&line);
        let paths: Vec<Option<PathBuf>> = ev
            .iter()
            .map(|e| match e {
                AgentEvent::Tool { path, .. } => path.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            paths,
            [
                Some(PathBuf::from(&long)),
                Some("./src/../x.py".into()),
                None
            ]
        );
        // What is shown is cut; what is carried is not.
        assert!(ev[0].display().unwrap().chars().count() < 600);
    }
}
