//! Codex's `exec --json`: `item.started` / `item.completed` events for commands,
//! MCP calls, web searches, file changes and agent messages, then
//! `turn.completed` or `turn.failed`. Codex gives no run duration.

use super::{array_at, one_line, push_message, quoted, str_at, AgentEvent, StreamParser};
use serde_json::Value;

impl StreamParser {
    pub(super) fn codex(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
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
                let named: Vec<&str> = array_at(item, &["changes"])
                    .iter()
                    .map(|c| str_at(c, "path"))
                    .filter(|p| !p.is_empty())
                    .collect();
                let shown: Vec<String> = named.iter().map(|p| self.rel(p)).collect();
                if str_at(item, "status") != "failed" {
                    let paths = named.iter().map(std::path::PathBuf::from).collect();
                    out.push(AgentEvent::FilesChanged { shown, paths });
                } else {
                    out.push(AgentEvent::ToolFailed(format!(
                        "edit of {} failed",
                        shown.join(", ")
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
    use super::super::tests::run;
    use super::super::*;

    #[test]
    fn codex_capture() {
        let (events, shown) = run(
            StreamFormat::CodexJson,
            include_str!("../../../fixtures/agents/streams/codex-0.169.0-fix-stream.jsonl"),
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
            .filter(|e| matches!(e, AgentEvent::FilesChanged { .. }))
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
}
