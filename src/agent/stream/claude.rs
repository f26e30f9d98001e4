//! Claude Code's `--output-format stream-json`: `assistant` messages carry text
//! and `tool_use` blocks, `user` messages carry tool results (only failures are
//! shown), and a final `result` gives the verdict. API retries arrive as
//! `system`/`api_retry` events and become notices. Text from a sub-agent
//! (`parent_tool_use_id` set) is left out: only its tool calls are shown.

use super::{array_at, one_line, push_message, quoted, str_at, AgentEvent, StreamParser};
use serde_json::Value;

impl StreamParser {
    pub(super) fn claude(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
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
        let path = |key: &str| str_at(input, key);
        match name {
            "Read" => self.file_tool("Read", path("file_path"), out),
            "Edit" | "MultiEdit" => self.file_tool("Edit", path("file_path"), out),
            "Write" => self.file_tool("Write", path("file_path"), out),
            "NotebookEdit" => self.file_tool("Edit", path("notebook_path"), out),
            "Bash" => self.tool("Run", one_line(str_at(input, "command")), out),
            "Grep" => self.tool("Search", quoted(str_at(input, "pattern")), out),
            "Glob" => self.tool("Find", one_line(str_at(input, "pattern")), out),
            "LS" => self.file_tool("List", path("path"), out),
            "WebFetch" => self.tool("Fetch", one_line(str_at(input, "url")), out),
            "WebSearch" => self.tool("Search web", quoted(str_at(input, "query")), out),
            "Task" | "Agent" => self.tool("Task", one_line(str_at(input, "description")), out),
            "TodoWrite" => self.tool("Plan", String::new(), out),
            other => self.tool(&one_line(other), String::new(), out),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{run, WS};
    use super::super::*;

    #[test]
    fn claude_capture() {
        let (_, shown) = run(
            StreamFormat::ClaudeJson,
            include_str!("../../../fixtures/agents/streams/claude-2.1.197-fix-stream.jsonl"),
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
            include_str!("../../../fixtures/agents/streams/claude-2.1.197-error-streams.jsonl"),
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
                detail: "\"PORT\"".into(),
                path: None,
            }]
        );
        let ev = p.feed_line(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"pytest -q\necho"}}]}}"#);
        assert_eq!(ev[0].display().as_deref(), Some("Run pytest -q"));
        assert!(p
            .feed_line(r#"{"type":"rate_limit_event","x":1}"#)
            .is_empty());
        assert_eq!(p.result_ok(), None);
    }
}
