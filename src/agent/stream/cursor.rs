//! Cursor Agent's `--output-format stream-json`. With `--stream-partial-output`
//! the same assistant text arrives in overlapping forms (deltas, cumulative
//! snapshots, the whole message again), so this parser keeps the current
//! message and the run's text to show each piece once. Tool calls are keyed by
//! kind (`readToolCall`, `shellToolCall`, ...) with `started`/`completed` events.

use super::{array_at, one_line, quoted, str_at, AgentEvent, StreamParser, MAX_HELD_TEXT};
use serde_json::Value;

/// The assistant text Cursor has sent so far, kept to show each piece once.
#[derive(Debug, Default)]
pub(super) struct CursorText {
    /// The text of the current assistant message seen so far.
    message: String,
    /// All assistant text of the run, to drop whole-message repeats.
    all: String,
}

impl CursorText {
    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.message.len() + self.all.len()
    }
}

impl StreamParser {
    pub(super) fn cursor(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
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
        let cur = &self.cursor.message;
        let new = if !cur.is_empty() && text.starts_with(cur.as_str()) {
            // Cumulative snapshot (or an exact repeat): only the growth is new.
            text[cur.len()..].to_string()
        } else if !cur.is_empty() && text.len() >= cur.len() && self.cursor.all.ends_with(text) {
            // The whole message (or several) repeated after the deltas.
            String::new()
        } else if cur.is_empty() && text.len() > 1 && self.cursor.all.ends_with(text) {
            // A late repeat of the previous message, after a tool call.
            String::new()
        } else {
            text.to_string()
        };
        // Bounded: a message past the cap is kept by its start (snapshots are
        // matched on it), the run's text by its end (repeats are matched on it).
        let room = MAX_HELD_TEXT.saturating_sub(self.cursor.message.len());
        self.cursor.message.push_str(crate::text::clip(&new, room));
        self.cursor.all.push_str(&new);
        if self.cursor.all.len() > 2 * MAX_HELD_TEXT {
            let cut = self.cursor.all.len() - MAX_HELD_TEXT;
            let cut = (cut..self.cursor.all.len())
                .find(|&i| self.cursor.all.is_char_boundary(i))
                .unwrap_or(self.cursor.all.len());
            self.cursor.all.drain(..cut);
        }
        new
    }

    fn end_cursor_message(&mut self, out: &mut Vec<AgentEvent>) {
        self.text.flush(out);
        self.cursor.message.clear();
    }

    fn cursor_tool(&self, key: &str, call: &Value, out: &mut Vec<AgentEvent>) {
        let args = call.get("args").unwrap_or(&Value::Null);
        let path = str_at(args, "path");
        match key {
            "readToolCall" => self.file_tool("Read", path, out),
            "editToolCall" | "searchReplaceToolCall" => self.file_tool("Edit", path, out),
            "writeToolCall" => self.file_tool("Write", path, out),
            "deleteToolCall" => self.file_tool("Delete", path, out),
            "lsToolCall" => self.file_tool("List", path, out),
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::*;

    #[test]
    fn cursor_partial_output_is_not_duplicated() {
        let (_, shown) = run(
            StreamFormat::CursorJson,
            include_str!(
                "../../../fixtures/agents/streams/cursor-RECONSTRUCTED-partial-stream.jsonl"
            ),
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
}
