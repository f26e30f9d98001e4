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
    /// A tool call: a verb (`Read`, `Edit`, `Run`, `Search`, ...) and its argument.
    Tool { name: String, detail: String },
    /// A tool call that failed, with the first line of its error.
    ToolFailed(String),
    /// Files the agent reports having changed (paths relative to the workspace).
    FilesChanged(Vec<String>),
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
            AgentEvent::Tool { name, detail } if detail.is_empty() => name.clone(),
            AgentEvent::Tool { name, detail } => format!("{name} {detail}"),
            AgentEvent::ToolFailed(msg) => format!("  failed: {msg}"),
            AgentEvent::FilesChanged(files) if files.is_empty() => return None,
            AgentEvent::FilesChanged(files) => format!("Changed {}", files.join(", ")),
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

/// Removes escape sequences (CSI, OSC, DCS and two-byte ESC forms), C0 and C1
/// control characters and Unicode bidi overrides; a tab becomes a space and a
/// newline is kept. The result is safe to print inside the overlay.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \)
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // ESC ( B and friends carry one more byte.
                Some('(' | ')' | '*' | '+' | '#' | '%') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(' '),
            '\n' => out.push('\n'),
            c if c.is_control() => {}
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

use crate::text::ellipsize as cut;

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

/// Joins streamed text chunks into whole lines.
#[derive(Debug, Default)]
struct TextLines {
    pending: String,
}

impl TextLines {
    /// Adds a chunk; returns the lines it completed.
    fn push(&mut self, chunk: &str, out: &mut Vec<AgentEvent>) {
        self.pending.push_str(chunk);
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            emit_text_line(&line, out);
        }
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
    /// Cursor: the text of the current assistant message seen so far.
    cursor_message: String,
    /// Cursor: all assistant text of the run, to drop whole-message repeats.
    cursor_all: String,
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
            cursor_message: String::new(),
            cursor_all: String::new(),
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
        });
    }

    // ---- Claude Code -------------------------------------------------------

    fn claude(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        match str_at(v, "type") {
            "system" if str_at(v, "subtype") == "api_retry" => {
                let status = v
                    .get("error_status")
                    .and_then(Value::as_u64)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| one_line(str_at(v, "error")));
                let attempt = v.get("attempt").and_then(Value::as_u64).unwrap_or(0);
                let max = v.get("max_retries").and_then(Value::as_u64).unwrap_or(0);
                out.push(AgentEvent::Notice(format!(
                    "API error {status}, retrying ({attempt}/{max})"
                )));
            }
            "assistant" => {
                let sub_agent = v.get("parent_tool_use_id").is_some_and(|p| !p.is_null());
                for block in array_at(v, &["message", "content"]) {
                    match str_at(block, "type") {
                        "text" if !sub_agent => push_message(str_at(block, "text"), out),
                        "tool_use" => {
                            let input = block.get("input").unwrap_or(&Value::Null);
                            self.claude_tool(str_at(block, "name"), input, out);
                        }
                        _ => {}
                    }
                }
            }
            "user" => {
                for block in array_at(v, &["message", "content"]) {
                    if str_at(block, "type") == "tool_result"
                        && block.get("is_error").and_then(Value::as_bool) == Some(true)
                    {
                        out.push(AgentEvent::ToolFailed(one_line(&content_text(
                            block.get("content"),
                        ))));
                    }
                }
            }
            "result" => {
                let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(true);
                let denials = array_at(v, &["permission_denials"]);
                let detail = if !denials.is_empty() {
                    let what: Vec<String> = denials
                        .iter()
                        .map(|d| {
                            let path = d
                                .pointer("/tool_input/file_path")
                                .and_then(Value::as_str)
                                .map(|p| format!(" {}", self.rel(p)))
                                .unwrap_or_default();
                            format!("{}{path}", one_line(str_at(d, "tool_name")))
                        })
                        .collect();
                    Some(format!("permission denied: {}", what.join(", ")))
                } else if is_error {
                    let status = v
                        .get("api_error_status")
                        .and_then(Value::as_u64)
                        .map(|s| format!("API error {s}: "))
                        .unwrap_or_default();
                    let msg = one_line(str_at(v, "result"));
                    let msg = if msg.is_empty() {
                        one_line(str_at(v, "subtype"))
                    } else {
                        msg
                    };
                    Some(format!("{status}{msg}"))
                } else {
                    None
                };
                out.push(AgentEvent::Result {
                    ok: !is_error && denials.is_empty(),
                    detail,
                    duration_ms: v.get("duration_ms").and_then(Value::as_u64),
                });
            }
            _ => {}
        }
    }

    fn claude_tool(&self, name: &str, input: &Value, out: &mut Vec<AgentEvent>) {
        let path = |key: &str| self.rel(str_at(input, key));
        match name {
            "Read" => self.tool("Read", path("file_path"), out),
            "Edit" | "MultiEdit" => self.tool("Edit", path("file_path"), out),
            "Write" => self.tool("Write", path("file_path"), out),
            "NotebookEdit" => self.tool("Edit", path("notebook_path"), out),
            "Bash" => self.tool("Run", one_line(str_at(input, "command")), out),
            "Grep" => self.tool("Search", quoted(str_at(input, "pattern")), out),
            "Glob" => self.tool("Find", one_line(str_at(input, "pattern")), out),
            "LS" => self.tool("List", path("path"), out),
            "WebFetch" => self.tool("Fetch", one_line(str_at(input, "url")), out),
            "WebSearch" => self.tool("Search web", quoted(str_at(input, "query")), out),
            "Task" | "Agent" => self.tool("Task", one_line(str_at(input, "description")), out),
            "TodoWrite" => self.tool("Plan", String::new(), out),
            other => self.tool(&one_line(other), String::new(), out),
        }
    }

    // ---- Cursor Agent ------------------------------------------------------

    fn cursor(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        match str_at(v, "type") {
            "assistant" => {
                let text: String = array_at(v, &["message", "content"])
                    .iter()
                    .filter(|b| str_at(b, "type") == "text")
                    .map(|b| str_at(b, "text"))
                    .collect();
                let new = self.cursor_new_text(&text);
                self.text.push(&new, out);
            }
            "tool_call" => {
                self.end_cursor_message(out);
                let Some((key, call)) = v
                    .get("tool_call")
                    .and_then(Value::as_object)
                    .and_then(|o| o.iter().next())
                else {
                    return;
                };
                match str_at(v, "subtype") {
                    "started" => self.cursor_tool(key, call, out),
                    "completed" => {
                        if let Some(err) = call.pointer("/result/error") {
                            let msg = match err {
                                Value::String(s) => s.clone(),
                                other => ["errorMessage", "message", "error"]
                                    .iter()
                                    .map(|k| str_at(other, k))
                                    .find(|s| !s.is_empty())
                                    .map(str::to_string)
                                    .unwrap_or_else(|| other.to_string()),
                            };
                            out.push(AgentEvent::ToolFailed(one_line(&msg)));
                        }
                    }
                    _ => {}
                }
            }
            "result" => {
                self.end_cursor_message(out);
                let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                    || !matches!(str_at(v, "subtype"), "success" | "");
                out.push(AgentEvent::Result {
                    ok: !is_error,
                    detail: is_error.then(|| one_line(str_at(v, "result"))),
                    duration_ms: v.get("duration_ms").and_then(Value::as_u64),
                });
            }
            _ => {}
        }
    }

    /// The part of an assistant line not shown yet. Partial output arrives as
    /// deltas, as cumulative snapshots of the message, and as the whole message
    /// again at its end; only the new suffix is returned.
    fn cursor_new_text(&mut self, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let cur = &self.cursor_message;
        let new = if !cur.is_empty() && text.starts_with(cur.as_str()) {
            // Cumulative snapshot (or an exact repeat): only the growth is new.
            text[cur.len()..].to_string()
        } else if !cur.is_empty() && text.len() >= cur.len() && self.cursor_all.ends_with(text) {
            // The whole message (or several) repeated after the deltas.
            String::new()
        } else if cur.is_empty() && text.len() > 1 && self.cursor_all.ends_with(text) {
            // A late repeat of the previous message, after a tool call.
            String::new()
        } else {
            text.to_string()
        };
        self.cursor_message.push_str(&new);
        self.cursor_all.push_str(&new);
        new
    }

    fn end_cursor_message(&mut self, out: &mut Vec<AgentEvent>) {
        self.text.flush(out);
        self.cursor_message.clear();
    }

    fn cursor_tool(&self, key: &str, call: &Value, out: &mut Vec<AgentEvent>) {
        let args = call.get("args").unwrap_or(&Value::Null);
        let path = || self.rel(str_at(args, "path"));
        match key {
            "readToolCall" => self.tool("Read", path(), out),
            "editToolCall" | "searchReplaceToolCall" => self.tool("Edit", path(), out),
            "writeToolCall" => self.tool("Write", path(), out),
            "deleteToolCall" => self.tool("Delete", path(), out),
            "lsToolCall" => self.tool("List", path(), out),
            "shellToolCall" => self.tool("Run", one_line(str_at(args, "command")), out),
            "grepToolCall" => self.tool("Search", quoted(str_at(args, "pattern")), out),
            "globToolCall" => {
                let pat = ["globPattern", "pattern"]
                    .iter()
                    .map(|k| str_at(args, k))
                    .find(|s| !s.is_empty())
                    .unwrap_or("");
                self.tool("Find", one_line(pat), out)
            }
            "mcpToolCall" => {
                let name = format!(
                    "{}.{}",
                    str_at(args, "providerIdentifier"),
                    str_at(args, "toolName")
                );
                self.tool("Tool", one_line(&name), out)
            }
            "function" => self.tool(&one_line(str_at(call, "name")), String::new(), out),
            other => {
                let verb = other.strip_suffix("ToolCall").unwrap_or(other);
                self.tool(&one_line(verb), String::new(), out)
            }
        }
    }

    // ---- Codex ---------------------------------------------------------------

    fn codex(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        let item = v.get("item").unwrap_or(&Value::Null);
        match (str_at(v, "type"), str_at(item, "type")) {
            ("item.started", "command_execution") => {
                self.tool("Run", one_line(&unwrap_shell(str_at(item, "command"))), out)
            }
            ("item.started", "mcp_tool_call") => {
                let name = format!("{}.{}", str_at(item, "server"), str_at(item, "tool"));
                self.tool("Tool", one_line(&name), out)
            }
            ("item.started", "web_search") => {
                self.tool("Search web", quoted(str_at(item, "query")), out)
            }
            ("item.completed", "agent_message") => push_message(str_at(item, "text"), out),
            ("item.completed", "command_execution") => {
                if let Some(code) = item.get("exit_code").and_then(Value::as_i64) {
                    if code != 0 {
                        out.push(AgentEvent::ToolFailed(format!("exit code {code}")));
                    }
                }
            }
            ("item.completed", "mcp_tool_call") => {
                if let Some(err) = item.get("error").filter(|e| !e.is_null()) {
                    let msg = err.as_str().map(str::to_string).unwrap_or_else(|| {
                        let m = str_at(err, "message");
                        if m.is_empty() {
                            err.to_string()
                        } else {
                            m.to_string()
                        }
                    });
                    out.push(AgentEvent::ToolFailed(one_line(&msg)));
                }
            }
            // A file change arrives on item.started and item.completed: count it once.
            ("item.completed", "file_change") => {
                let files: Vec<String> = array_at(item, &["changes"])
                    .iter()
                    .map(|c| self.rel(str_at(c, "path")))
                    .filter(|p| !p.is_empty())
                    .collect();
                if str_at(item, "status") != "failed" {
                    out.push(AgentEvent::FilesChanged(files));
                } else {
                    out.push(AgentEvent::ToolFailed(format!(
                        "edit of {} failed",
                        files.join(", ")
                    )));
                }
            }
            ("item.completed", "error") => {
                out.push(AgentEvent::Notice(format!(
                    "warning: {}",
                    one_line(str_at(item, "message"))
                )));
            }
            ("error", _) => out.push(AgentEvent::Notice(one_line(str_at(v, "message")))),
            ("turn.completed", _) => out.push(AgentEvent::Result {
                ok: true,
                detail: None,
                duration_ms: None,
            }),
            ("turn.failed", _) => out.push(AgentEvent::Result {
                ok: false,
                detail: Some(one_line(
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("turn failed"),
                )),
                duration_ms: None,
            }),
            _ => {}
        }
    }

    // ---- Gemini CLI ----------------------------------------------------------

    fn gemini(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        match str_at(v, "type") {
            "message" if str_at(v, "role") == "assistant" => {
                let content = str_at(v, "content");
                if v.get("delta").and_then(Value::as_bool) == Some(true) {
                    self.text.push(content, out);
                } else {
                    self.text.flush(out);
                    push_message(content, out);
                }
            }
            "tool_use" => {
                self.text.flush(out);
                let params = v.get("parameters").unwrap_or(&Value::Null);
                self.gemini_tool(str_at(v, "tool_name"), params, out);
            }
            "tool_result" if !matches!(str_at(v, "status"), "success" | "") => {
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| str_at(v, "output"));
                let msg = if msg.is_empty() { "tool failed" } else { msg };
                out.push(AgentEvent::ToolFailed(one_line(msg)));
            }
            "error" => {
                self.text.flush(out);
                let msg = ["message", "content"]
                    .iter()
                    .map(|k| str_at(v, k))
                    .find(|s| !s.is_empty())
                    .unwrap_or("error");
                out.push(AgentEvent::Notice(format!("warning: {}", one_line(msg))));
            }
            "result" => {
                self.text.flush(out);
                let ok = str_at(v, "status") == "success";
                let detail = (!ok).then(|| {
                    let m = v
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| str_at(v, "status"));
                    one_line(m)
                });
                out.push(AgentEvent::Result {
                    ok,
                    detail,
                    duration_ms: v.pointer("/stats/duration_ms").and_then(Value::as_u64),
                });
            }
            _ => {}
        }
    }

    fn gemini_tool(&self, name: &str, p: &Value, out: &mut Vec<AgentEvent>) {
        let first = |keys: &[&str]| -> String {
            keys.iter()
                .map(|k| str_at(p, k))
                .find(|s| !s.is_empty())
                .unwrap_or("")
                .to_string()
        };
        let path = || self.rel(&first(&["file_path", "absolute_path", "path", "dir_path"]));
        match name {
            "read_file" => self.tool("Read", path(), out),
            "read_many_files" => self.tool("Read", String::new(), out),
            "replace" | "edit" => self.tool("Edit", path(), out),
            "write_file" => self.tool("Write", path(), out),
            "list_directory" => self.tool("List", path(), out),
            "glob" => self.tool("Find", one_line(&first(&["pattern"])), out),
            "grep_search" | "search_file_content" | "grep" => {
                self.tool("Search", quoted(&first(&["pattern"])), out)
            }
            "run_shell_command" => self.tool("Run", one_line(&first(&["command"])), out),
            "google_web_search" => self.tool("Search web", quoted(&first(&["query"])), out),
            "web_fetch" => self.tool("Fetch", one_line(&first(&["url", "prompt"])), out),
            other => self.tool(&one_line(other), String::new(), out),
        }
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

/// A tool result's content: a string, or an array of text blocks.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| str_at(b, "text"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", one_line(s))
}

/// Codex wraps commands as `bash -lc '...'`; show the inner command.
fn unwrap_shell(cmd: &str) -> String {
    for prefix in ["bash -lc ", "/bin/bash -lc ", "sh -c ", "zsh -lc "] {
        if let Some(rest) = cmd.strip_prefix(prefix) {
            let rest = rest.trim();
            for q in ['\'', '"'] {
                if rest.len() >= 2 && rest.starts_with(q) && rest.ends_with(q) {
                    return rest[1..rest.len() - 1].to_string();
                }
            }
            return rest.to_string();
        }
    }
    cmd.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "/home/dev/shop";

    fn run(format: StreamFormat, stream: &str) -> (Vec<AgentEvent>, Vec<String>) {
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
    fn claude_capture() {
        let (_, shown) = run(
            StreamFormat::ClaudeJson,
            include_str!("../../fixtures/agents/streams/claude-2.1.197-fix-stream.jsonl"),
        );
        assert_eq!(
            shown,
            [
                "Reading the file named in the traceback.",
                "Read app.py",
                "The lookup fails when the variable is unset; defaulting it.",
                "Edit app.py",
                "Fixed: the value now has a default.",
                "Agent finished in 0.2s",
            ]
        );
    }

    #[test]
    fn claude_error_capture() {
        let (events, shown) = run(
            StreamFormat::ClaudeJson,
            include_str!("../../fixtures/agents/streams/claude-2.1.197-error-streams.jsonl"),
        );
        assert_eq!(shown[0], "API error 401, retrying (1/10)");
        assert!(
            shown.contains(
                &"Agent failed in 0.2s: API error 401: Invalid API key · Fix external API key"
                    .to_string()
            ),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|l| l
                    .starts_with("Agent failed in 0.1s: API error 529: API Error: 529 Overloaded")),
            "{shown:#?}"
        );
        assert!(shown.contains(&"  failed: Claude requested permissions to write to /home/dev/shop/app.py, but you haven't granted it yet.".to_string()), "{shown:#?}");
        // A refused edit exits with is_error false: the denials still make it a failure.
        assert_eq!(
            events.last(),
            Some(&AgentEvent::Result {
                ok: false,
                detail: Some("permission denied: Edit app.py".into()),
                duration_ms: Some(188)
            })
        );
    }

    #[test]
    fn claude_retry_without_status_and_sub_agent_text() {
        let mut p = StreamParser::new(StreamFormat::ClaudeJson, Path::new(WS));
        let ev = p.feed_line(r#"{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"error_status":529,"error":"overloaded"}"#);
        assert_eq!(
            ev[0].display().as_deref(),
            Some("API error 529, retrying (2/10)")
        );
        let ev = p.feed_line(r#"{"type":"assistant","parent_tool_use_id":"toolu_1","message":{"content":[{"type":"text","text":"sub-agent chatter"},{"type":"tool_use","name":"Grep","input":{"pattern":"PORT"}}]}}"#);
        assert_eq!(
            ev,
            [AgentEvent::Tool {
                name: "Search".into(),
                detail: "\"PORT\"".into()
            }]
        );
        let ev = p.feed_line(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"pytest -q\necho"}}]}}"#);
        assert_eq!(ev[0].display().as_deref(), Some("Run pytest -q"));
        assert!(p
            .feed_line(r#"{"type":"rate_limit_event","x":1}"#)
            .is_empty());
        assert_eq!(p.result_ok(), None);
    }

    #[test]
    fn codex_capture() {
        let (events, shown) = run(
            StreamFormat::CodexJson,
            include_str!("../../fixtures/agents/streams/codex-0.169.0-fix-stream.jsonl"),
        );
        assert_eq!(
            shown,
            [
                "warning: Model metadata for `mock-model` not found. Defaulting to fallback metadata; this can degrade performance and cause issues.",
                "Changed app.py",
                "Fixed the lookup.",
                "Agent finished",
            ]
        );
        let changes = events
            .iter()
            .filter(|e| matches!(e, AgentEvent::FilesChanged(_)))
            .count();
        assert_eq!(changes, 1, "file_change counted on item.completed only");
    }

    #[test]
    fn codex_commands_and_failure() {
        let (_, shown) = run(
            StreamFormat::CodexJson,
            concat!(
                r#"{"type":"item.started","item":{"id":"item_2","type":"command_execution","command":"bash -lc 'cargo test'","status":"in_progress"}}"#,
                "\n",
                r#"{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"bash -lc 'cargo test'","exit_code":101,"status":"failed"}}"#,
                "\n",
                r#"{"type":"turn.failed","error":{"message":"stream disconnected"}}"#,
                "\n",
            ),
        );
        assert_eq!(
            shown,
            [
                "Run cargo test",
                "  failed: exit code 101",
                "Agent failed: stream disconnected"
            ]
        );
    }

    #[test]
    fn gemini_capture() {
        let (_, shown) = run(
            StreamFormat::GeminiJson,
            include_str!("../../fixtures/agents/streams/gemini-0.61.0-fix-stream.jsonl"),
        );
        assert_eq!(
            shown,
            [
                "Fixing the lookup.",
                "Edit app.py",
                "Fixed the lookup.",
                "Agent finished in 0.2s"
            ]
        );
    }

    #[test]
    fn gemini_deltas_join_into_lines() {
        let mut p = StreamParser::new(StreamFormat::GeminiJson, Path::new(WS));
        let d = |s: &str| {
            format!(
                r#"{{"type":"message","role":"assistant","content":{},"delta":true}}"#,
                serde_json::Value::from(s)
            )
        };
        assert!(p.feed_line(&d("I will ")).is_empty());
        assert!(p.feed_line(&d("read the")).is_empty());
        assert_eq!(
            p.feed_line(&d(" file.\nThen ")),
            [AgentEvent::Text("I will read the file.".into())]
        );
        let ev = p.feed_line(r#"{"type":"tool_use","tool_name":"read_file","tool_id":"t1","parameters":{"absolute_path":"/home/dev/shop/src/app.py"}}"#);
        assert_eq!(
            ev,
            [
                AgentEvent::Text("Then".into()),
                AgentEvent::Tool {
                    name: "Read".into(),
                    detail: "src/app.py".into()
                }
            ]
        );
        let ev = p.feed_line(r#"{"type":"tool_result","tool_id":"t1","status":"error","error":{"type":"x","message":"File not found"}}"#);
        assert_eq!(ev, [AgentEvent::ToolFailed("File not found".into())]);
        assert!(p.feed_line(&d("done")).is_empty());
        assert_eq!(p.finish(), [AgentEvent::Text("done".into())]);
    }

    #[test]
    fn cursor_partial_output_is_not_duplicated() {
        let (_, shown) = run(
            StreamFormat::CursorJson,
            include_str!("../../fixtures/agents/streams/cursor-RECONSTRUCTED-partial-stream.jsonl"),
        );
        assert_eq!(
            shown,
            [
                "I'll read the file named in the traceback.",
                "Read app.py",
                "Defaulting the port.",
                "Then checking it.",
                "Edit app.py",
                "Run python -c 'import app'",
                "  failed: Command rejected: shell not permitted",
                "Fixed: PORT defaults to 8765.",
                "Agent finished in 1.2s",
            ]
        );
    }

    #[test]
    fn cursor_without_partial_output() {
        let (_, shown) = run(
            StreamFormat::CursorJson,
            concat!(
                r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Reading."}]}}"#,
                "\n",
                r#"{"type":"tool_call","subtype":"started","call_id":"c1","tool_call":{"grepToolCall":{"args":{"pattern":"PORT"}}}}"#,
                "\n",
                r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Done."}]}}"#,
                "\n",
                r#"{"type":"result","subtype":"error","is_error":true,"duration_ms":50,"result":"boom"}"#,
                "\n",
            ),
        );
        assert_eq!(
            shown,
            [
                "Reading.",
                "Search \"PORT\"",
                "Done.",
                "Agent failed in 0.1s: boom"
            ]
        );
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
        assert_eq!(sanitize("a\x1b[2J\x1b[1;1Hb"), "ab");
        assert_eq!(sanitize("t\x1b]0;title\x07x\x1b]8;;http://e\x1b\\y"), "txy");
        assert_eq!(sanitize("a\x1b(Bb\rc\x08d\x07e\u{9b}f"), "abcdef");
        assert_eq!(sanitize("tab\there\u{202e}evil"), "tab hereevil");
        assert_eq!(sanitize("naïve — ok\nnext"), "naïve — ok\nnext");
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
}
